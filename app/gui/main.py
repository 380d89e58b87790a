"""The GUI face's one wiring place: paths, logging, secrets, history, runner, window.

:func:`run_app` is what ``plan-runner`` (without a command) calls. Everything the
window needs is built here and passed in; nothing else in the GUI reaches for a
global.

Start-up shows the window first and opens the rest behind it: the window is
built from Qt and light modules only, and once it has painted, the keyring and
the history are opened on the task helper (which also imports the settings
models and the diagnostics, so the GUI thread does not). Then the workspace is
handed to the window (:meth:`MainWindow.open`).
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import (
    QEventLoop,
    QMessageLogContext,
    QSettings,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
    qVersion,
)
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from app import __version__
from app.core.errors import PlanRunnerError, SetupError
from app.core.logs import setup_logging
from app.core.paths import HOME_VARIABLE, AppPaths, check_folders
from app.core.redact import Redactor
from app.core.runner import Runner
from app.core.secrets import SecretStore, SessionStore, open_secret_store
from app.gui import icons, theme
from app.gui.main_window import MainWindow, Opened
from app.gui.quit_signals import QuitOnSignals
from app.gui.recent_runs import Rerun
from app.gui.tasks import TaskRunner

if TYPE_CHECKING:
    from app.core.history import HistoryStore
    from app.core.workspace import Workspace, WorkspaceFiles
    from app.gui.demo import DemoEnvironment
    from app.gui.status_panel import StatusPanel

log = logging.getLogger(__name__)
qt_log = logging.getLogger("qt")

KEYRING_WAIT_SECONDS = 10.0
OPEN_ANYWAY_MS = 500
SELF_CHECK_KEYRING_SECONDS = 2.0
RECENT_FROM_HISTORY = 50
SELF_CHECK_PROFILE = "plan-runner-self-check"


# Qt and Python errors into logging and onto the screen ---------------------------

_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def qt_message_handler(
    mode: QtMsgType, context: QMessageLogContext, message: str
) -> None:
    """Send Qt's own messages to the ``qt`` logger."""
    category = getattr(context, "category", None) or "qt"
    qt_log.log(_QT_LEVELS.get(mode, logging.WARNING), "[%s] %s", category, message)


class CrashReporter:
    """The excepthook: logs an unexpected error and says where the log is.

    Args:
        log_file: The log file people can attach to a ticket.
        show: Shows the message to the person; a dialog by default.
    """

    def __init__(
        self, log_file: Path, show: Callable[[str], None] | None = None
    ) -> None:
        self.log_file = log_file
        self._show = show
        self._showing = False

    def __call__(
        self,
        exc_type: type[BaseException],
        error: BaseException,
        tb: TracebackType | None,
    ) -> None:
        """Handle an exception nobody caught."""
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()
            return
        log.critical(
            "Unexpected error:\n%s",
            "".join(traceback.format_exception(exc_type, error, tb)),
        )
        if self._showing:  # an error while the dialog is up: logged is enough
            return
        self._showing = True
        try:
            (self._show or self.show_dialog)(self.message(exc_type))
        finally:
            self._showing = False

    def message(self, exc_type: type[BaseException]) -> str:
        """Return what the person reads (never the exception's text: it is logged)."""
        return (
            f"Plan Runner hit an unexpected error ({exc_type.__name__}).\n\n"
            "Your settings and your history of runs are safe. If a run was in "
            "flight, check the test system before running it again.\n\n"
            f"The details are in the log file:\n{self.log_file}\n\n"
            "Attach it when you report the problem; it holds no tokens."
        )

    def show_dialog(self, text: str) -> None:
        """Show ``text`` in a modal error dialog."""
        box = QMessageBox(
            QMessageBox.Icon.Critical, "Plan Runner: unexpected error", text
        )
        box.setTextInteractionFlags(box.textInteractionFlags())
        box.exec()


# The history ----------------------------------------------------------------------


def open_history(path: Path) -> tuple[HistoryStore | None, list[str]]:
    """Open the history store; return it (or None) and notices to show."""
    from app.core.history import HistoryStore  # noqa: PLC0415

    try:
        store = HistoryStore.open(path)
    except PlanRunnerError as error:
        return None, [f"{error} Runs of this session are not recorded."]
    return store, list(store.notices)


def recent_from_history(
    store: HistoryStore | None, limit: int = RECENT_FROM_HISTORY
) -> list[Rerun]:
    """Return the latest runs of the history, newest first (for the ID pickers)."""
    from app.core.history import HistoryFilter  # noqa: PLC0415

    if store is None:
        return []
    try:
        rows = store.page(HistoryFilter(), limit=limit)
    except PlanRunnerError as error:
        log.warning("Could not read the recent runs: %s", error)
        return []
    # ID 0 marks an ID the history could not read: nothing to offer again.
    return [
        Rerun(row.plan_id, row.user_id, row.profile)
        for row in rows
        if row.plan_id > 0 and row.user_id > 0
    ]


# Waiting for a task without blocking the event loop ---------------------------------


def wait_for(
    tasks: TaskRunner, name: str, function: Callable[[], Any], seconds: float
) -> tuple[bool, Any]:
    """Run ``function`` through the task helper; spin the event loop until it ends.

    Returns:
        ``(True, result)``, or ``(False, None)`` when it did not end in time.

    Raises:
        Exception: Whatever ``function`` raised.
    """
    outcome: dict[str, Any] = {}
    loop = QEventLoop()
    task = tasks.submit(
        name,
        function,
        on_finished=lambda value: outcome.update(value=value),
        on_failed=lambda error: outcome.update(error=error),
    )
    task.finished.connect(loop.quit)
    task.failed.connect(loop.quit)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(round(seconds * 1000))
    if not task.done:
        loop.exec()
    timer.stop()
    if "error" in outcome:
        raise outcome["error"]
    if "value" not in outcome:
        return False, None
    return True, outcome["value"]


# Wiring -------------------------------------------------------------------------


@dataclass
class OpenedHistory:
    """What the task helper opened for the window: history, settings, policy."""

    store: HistoryStore | None
    notices: list[str]
    recent: list[Rerun]
    files: WorkspaceFiles


def open_history_for_window(paths: AppPaths) -> OpenedHistory:
    """Open the history, read the recent runs, the settings and the policy.

    Runs on the task helper: the GUI thread neither reads these files nor
    waits for the settings models' import.
    """
    from app.core.workspace import read_workspace_files  # noqa: PLC0415

    files = read_workspace_files(paths)
    store, notices = open_history(paths.history_file)
    return OpenedHistory(store, notices, recent_from_history(store), files)


def make_status_panel(
    workspace: Workspace,
    paths: AppPaths,
    redactor: Redactor,
    tasks: TaskRunner,
    history: HistoryStore | None,
) -> StatusPanel:
    """Build the Status tab's panel (when the tab is first shown)."""
    from app.gui.status_panel import StatusPanel  # noqa: PLC0415

    return StatusPanel(
        workspace,
        paths,
        redactor,
        tasks.submit,
        history=history,
        extra_facts={"qt": qVersion(), "pyside6": pyside_version},
    )


@dataclass
class Gui:
    """The window and what was opened for it, closed together.

    ``workspace`` and ``history`` are None until the window is open (see
    :func:`start_gui`).
    """

    window: MainWindow
    tasks: TaskRunner
    window_state: QSettings
    workspace: Workspace | None = None
    history: HistoryStore | None = None
    closed: bool = False

    def close(self) -> None:
        """Close the window (if open) and everything opened for it."""
        self.closed = True
        if not self.window.isHidden() or not self.tasks.closed:
            self.window.close()
        if not self.tasks.closed:
            self.tasks.shutdown(0)
        if self.history is not None:
            try:
                self.history.close()
            except PlanRunnerError as error:
                log.warning("Closing the history failed: %s", error)


class Opening:
    """Opens the keyring and the history on the task helper, then the window.

    The history first (its task also imports the settings models), then the
    keyring. A keyring that has not answered within
    :data:`KEYRING_WAIT_SECONDS` (a hung D-Bus, an unlock prompt nobody sees) is
    replaced by a session-only store that says so.

    Args:
        gui: The window and what is opened for it.
        paths: Where settings, history and logs live.
        redactor: The app's one redactor.
        secrets: The secret store, when the caller has one already.
        demo: Demo mode, which provides its own secret store and profiles.
        open_secrets: Opens the keyring (or a session store that says why).
    """

    def __init__(
        self,
        gui: Gui,
        paths: AppPaths,
        redactor: Redactor,
        *,
        secrets: SecretStore | None,
        demo: DemoEnvironment | None,
        open_secrets: Callable[[Redactor], SecretStore],
    ) -> None:
        self.gui = gui
        self.paths = paths
        self.redactor = redactor
        self.demo = demo
        self.secrets = demo.secrets if demo is not None else secrets
        self.history: OpenedHistory | None = None
        self.error: BaseException | None = None
        self.on_ready: Callable[[], None] | None = None
        self._started = False
        self._done = False
        self._open_secrets = open_secrets
        self._keyring_timer = QTimer(gui.window)
        self._keyring_timer.setSingleShot(True)
        self._keyring_timer.timeout.connect(self._on_keyring_timeout)

    @property
    def ready(self) -> bool:
        """Whether the secrets and the history are both there."""
        return self.secrets is not None and self.history is not None

    def start(self) -> None:
        """Start opening the keyring and the history (once; later calls do nothing)."""
        if self._started or self.gui.closed:
            return
        self._started = True
        self.gui.tasks.submit(
            "open the history",
            functools.partial(open_history_for_window, self.paths),
            on_finished=self._on_history,
            on_failed=self._on_failed,
        )

    def _open_keyring(self) -> None:
        # After the history, not beside it: two threads importing at once can
        # break an import. PySide6 inspects every module imported after it; its
        # check reads attributes of a module half-way through its own import
        # (pydantic's errors module then fails to import, now and then).
        self._keyring_timer.start(round(KEYRING_WAIT_SECONDS * 1000))
        self.gui.tasks.submit(
            "open the keyring",
            functools.partial(self._open_secrets, self.redactor),
            on_finished=self._on_secrets,
            on_failed=self._on_keyring_failed,
        )

    def finish(self) -> None:
        """Build the workspace and what the window shows, and open the window."""
        from app.core.workspace import Workspace  # noqa: PLC0415
        from app.gui.history_view import HistoryView  # noqa: PLC0415

        secrets, history = self.secrets, self.history
        if secrets is None or history is None:
            raise RuntimeError("finish() needs the secrets and the history")
        workspace = Workspace.from_files(history.files, self.redactor, secrets)
        if self.demo is not None:
            self.demo.populate(workspace)
        self.gui.workspace = workspace
        keyring_problem = (
            secrets.reason
            if isinstance(secrets, SessionStore) and self.demo is None
            else None
        )
        self.gui.window.open(
            Opened(
                workspace,
                Runner(
                    self.redactor, history=history.store, retention=workspace.retention
                ),
                keyring_problem=keyring_problem,
                notices=history.notices,
                history_view=None
                if history.store is None
                else HistoryView(history.store, submit=self.gui.tasks.submit),
                make_status_panel=functools.partial(
                    make_status_panel,
                    workspace,
                    self.paths,
                    self.redactor,
                    self.gui.tasks,
                    history.store,
                ),
                recent=history.recent,
            )
        )

    def _on_secrets(self, store: SecretStore) -> None:
        if self.secrets is not None:
            log.info("The keyring answered after the wait; this session keeps going")
            return
        self._keyring_timer.stop()
        self.secrets = store
        self._step()

    def _on_keyring_failed(self, error: BaseException) -> None:
        log.warning("Opening the keyring failed: %s", error)
        self._on_secrets(SessionStore(self.redactor, f"The keyring failed: {error}"))

    def _on_keyring_timeout(self) -> None:
        if self.secrets is None:
            self.secrets = SessionStore(
                self.redactor,
                f"The keyring did not answer within {KEYRING_WAIT_SECONDS:g} s.",
            )
            self._step()

    def _on_history(self, history: OpenedHistory) -> None:
        if self.gui.closed:
            if history.store is not None:
                history.store.close()
            return
        self.history = history
        self.gui.history = history.store  # closed with the window from now on
        if self.secrets is None:
            self.gui.window.show_opening_hint(
                "Waiting for the keyring (it may be asking to be unlocked)…"
            )
            self._open_keyring()
        self._step()

    def _on_failed(self, error: BaseException) -> None:
        self.error = error
        self._keyring_timer.stop()
        self._step()

    def _step(self) -> None:
        # Once: the keyring may still answer after the history failed. Never
        # after quitting began: the window and its task helper are going away.
        if self._done or self.gui.closed or self.gui.tasks.closed:
            return
        if self.on_ready is not None and (self.ready or self.error is not None):
            self._done = True
            self.on_ready()


def start_gui(
    paths: AppPaths,
    redactor: Redactor,
    tasks: TaskRunner,
    *,
    secrets: SecretStore | None = None,
    demo: DemoEnvironment | None = None,
    open_secrets: Callable[[Redactor], SecretStore] = open_secret_store,
) -> tuple[Gui, Opening]:
    """Build the window at once; return it and its :class:`Opening`, not started.

    Args:
        paths: Where settings, history and logs live.
        redactor: The app's one redactor.
        tasks: The one background-task helper.
        secrets: The secret store; the keyring is opened (off the GUI thread) when
            None.
        demo: Demo mode, which provides its own secret store and profiles.
        open_secrets: Opens the keyring (or a session store that says why).
    """
    window_state = QSettings(
        str(paths.config_dir / "window.ini"), QSettings.Format.IniFormat
    )
    window = MainWindow(tasks, paths=paths, window_state=window_state, demo=demo)
    gui = Gui(window, tasks, window_state)
    opening = Opening(
        gui,
        paths,
        redactor,
        secrets=secrets,
        demo=demo,
        open_secrets=open_secrets,
    )
    return gui, opening


def build_gui(
    paths: AppPaths,
    redactor: Redactor,
    tasks: TaskRunner,
    *,
    secrets: SecretStore | None = None,
    demo: DemoEnvironment | None = None,
    open_secrets: Callable[[Redactor], SecretStore] = open_secret_store,
) -> Gui:
    """Build the window and open it before returning (tests, the self-check).

    Spins the event loop while the keyring and the history open; the arguments
    are :func:`start_gui`'s.

    Raises:
        Exception: Whatever opening the history raised.
    """
    gui, opening = start_gui(
        paths, redactor, tasks, secrets=secrets, demo=demo, open_secrets=open_secrets
    )
    loop = QEventLoop()
    opening.on_ready = loop.quit
    opening.start()
    if not (opening.ready or opening.error is not None):
        loop.exec()
    opening.on_ready = None
    if opening.error is not None:
        gui.close()
        raise opening.error
    opening.finish()
    return gui


def create_application() -> QApplication:
    """Return the QApplication, set up with the app's names, icon and scheme."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    QApplication.setApplicationName("plan-runner")
    QApplication.setApplicationDisplayName("Plan Runner")
    QApplication.setApplicationVersion(__version__)
    QApplication.setOrganizationName("plan-runner")
    QGuiApplication.setDesktopFileName("plan-runner")
    theme.apply_scheme(app)
    if existing is None:
        QGuiApplication.styleHints().colorSchemeChanged.connect(
            lambda _scheme: theme.apply_scheme(app)
        )
    app.setWindowIcon(icons.icon(icons.APP_ICON))
    return app


def tell_cannot_start(text: str) -> None:
    """Say in a dialog why the app cannot start (it may have no terminal)."""
    QMessageBox.critical(None, "Plan Runner cannot start", text)


def open_window(gui: Gui, opening: Opening) -> None:
    """Hand what was opened to the window; say so in the window if that failed."""
    error = opening.error
    if error is None:
        try:
            opening.finish()
        except Exception as caught:  # noqa: BLE001 - shown, logged, reported below
            error = caught
    if error is not None:
        log.error(
            "Could not open the settings and the history",
            exc_info=(type(error), error, error.__traceback__),
        )
        gui.window.show_open_problem(
            f"Plan Runner could not open its settings and history "
            f"({type(error).__name__}). Nothing can be run; the details are in the "
            "log file (Help, About)."
        )
        return
    runner = gui.window.runner
    if runner is not None:
        gui.tasks.submit("apply history retention", runner.apply_retention)
    settle_startup_objects()


def quit_on_signal(leave: Callable[[int], None], number: int) -> None:
    """Close every window as its close button does, then ``leave(128 + number)``.

    Closing the main window cancels a run in flight and waits briefly for it
    to be recorded; ``QApplication.exit`` also ends any dialog's own loop.
    """
    log.info("Quitting on %s", signal.Signals(number).name)
    # No questions on the way out: a dialog that asks before it closes ("discard
    # the changes?") would hold up the main window's shutdown until answered,
    # and a logout does not wait. What a dialog had not saved is dropped.
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QDialog) and widget.isVisible():
            widget.hide()
    QApplication.closeAllWindows()
    leave(128 + number)


def settle_startup_objects() -> None:
    """Keep what start-up built out of the garbage collector's full passes.

    Start-up leaves some 60,000 long-lived objects (modules, models, widgets'
    wrappers); a full collection walks them all, 11-19 ms on the GUI thread,
    whenever enough new objects have piled up: a visible stall. Frozen, they
    are still freed by reference counting, only never scanned for cycles.
    """
    gc.collect()
    gc.freeze()
    _give_back_free_memory()


def _give_back_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc only).

    Opening imports and parses a great deal and frees much of it again; glibc
    keeps those pages for reuse unless asked, about a megabyte of resident
    memory the idle window never needs.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # noqa: PLC0415

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):  # musl and others: nothing to ask
        return
    trim(0)


def user_paths() -> AppPaths:
    """Return the user's folders, or say in a dialog why they cannot be used.

    Raises:
        SetupError: A file stands where one of the folders must be.
    """
    paths = AppPaths.from_environment()
    try:
        check_folders(paths, os.environ.get(HOME_VARIABLE))
    except SetupError as error:
        tell_cannot_start(str(error))
        raise
    return paths


def run_app(*, demo: bool, self_check: bool) -> int:
    """Open the desktop app; return the exit code."""
    app = create_application()
    if self_check:
        return run_self_check(app)

    # Before anything that must be cleaned up (the demo's folder, the history):
    # from here on a quit signal closes the app as its close button does.
    quitter = QuitOnSignals(functools.partial(quit_on_signal, app.exit))
    try:
        return _run_app(app, demo=demo)
    finally:
        quitter.close()


def _run_app(app: QApplication, *, demo: bool) -> int:
    """Open the window and run the event loop; return the exit code."""
    redactor = Redactor()
    environment = None
    if demo:
        # Only the demo needs the simulator and its HTTP server.
        from app.gui.demo import DemoEnvironment  # noqa: PLC0415

        environment = DemoEnvironment(redactor).start()
    paths = environment.paths if environment is not None else user_paths()
    handlers = setup_logging(paths.log_file, redactor)
    previous_qt_handler = qInstallMessageHandler(qt_message_handler)
    previous_hook = sys.excepthook
    sys.excepthook = CrashReporter(paths.log_file)
    log.info("Plan Runner %s starting%s", __version__, " (demo)" if demo else "")
    tasks = TaskRunner(app)
    gui: Gui | None = None
    code = 1
    try:
        gui, opening = start_gui(paths, redactor, tasks, demo=environment)
        opening.on_ready = functools.partial(open_window, gui, opening)
        # Opening starts once the window has painted, so its imports do not
        # compete with the first paint; a window that is never painted (started
        # minimised) starts it a moment later.
        gui.window.first_painted.connect(opening.start)
        QTimer.singleShot(OPEN_ANYWAY_MS, opening.start)
        gui.window.show()
        code = int(app.exec())
    finally:
        started = time.monotonic()
        if gui is not None:
            gui.close()
        stuck = not tasks.shutdown(0)
        if environment is not None:
            environment.close()
        if stuck:
            log.warning("A keyring call never returned; leaving without it")
        log.info("Stopped in %.0f ms", (time.monotonic() - started) * 1000)
        sys.excepthook = previous_hook
        qInstallMessageHandler(previous_qt_handler)
        root = logging.getLogger()
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
    if stuck:
        # The thread pool would wait for that call at exit, for ever (a D-Bus
        # that accepts and never answers); everything else is closed by now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


# The self-check -------------------------------------------------------------------


def probe_keyring(redactor: Redactor) -> tuple[bool, str]:
    """Reach the keyring; return whether it works and what to report."""
    store = open_secret_store(redactor)
    if isinstance(store, SessionStore):
        return False, f"unavailable: {store.reason}"
    try:
        store.load(SELF_CHECK_PROFILE)
    except PlanRunnerError as error:
        return False, f"unavailable: {error}"
    return True, f"OK ({store.backend_name})"


def run_self_check(app: QApplication) -> int:
    """Open the window, render every icon, reach the keyring; print a report."""
    started = time.monotonic()
    # The report says what matters; keep the core's warnings off the terminal.
    quiet = logging.NullHandler()
    logging.getLogger().addHandler(quiet)
    report = [f"Plan Runner {__version__} self-check"]
    report.append(f"  Qt: PySide6 {pyside_version}, platform {app.platformName()}")
    ok = True

    problems = icons.check_icons()
    if problems:
        ok = False
        report.append("  Icons: FAILED")
        report.extend(f"    - {problem}" for problem in problems)
    else:
        report.append(f"  Icons: OK ({len(icons.all_icon_names())} rendered)")

    redactor = Redactor()
    probe_tasks = TaskRunner(app)
    keyring_done, keyring = wait_for(
        probe_tasks,
        "probe the keyring",
        lambda: probe_keyring(redactor),
        SELF_CHECK_KEYRING_SECONDS,
    )
    if keyring_done:
        report.append(f"  Keyring: {keyring[1]}")
        if not keyring[0]:
            report.append("    (tokens would be kept for the session only)")
    else:
        report.append(
            f"  Keyring: no answer within {SELF_CHECK_KEYRING_SECONDS:g} s "
            "(it may be waiting to be unlocked)"
        )

    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="plan-runner-self-check-") as home:
        root = Path(home)
        paths = AppPaths(root / "config", root / "data", root / "logs", root / "none")
        tasks = TaskRunner(app)
        try:
            gui = build_gui(
                paths, redactor, tasks, secrets=SessionStore(redactor, "self-check")
            )
            gui.window.show()
            app.processEvents()
            image = gui.window.grab()
            if image.isNull() or image.width() < 100:
                ok = False
                report.append("  Window: FAILED (it rendered nothing)")
            else:
                report.append(
                    f"  Window: OK ({image.width()}x{image.height()} rendered)"
                )
            gui.close()
        except Exception as error:
            ok = False
            log.exception("The self-check could not open the window")
            report.append(f"  Window: FAILED ({type(error).__name__}: {error})")

    report.append(
        f"Result: {'OK' if ok else 'FAILED'} in {(time.monotonic() - started):.1f} s"
    )
    sys.stdout.write("\n".join(report) + "\n")
    sys.stdout.flush()
    logging.getLogger().removeHandler(quiet)
    code = 0 if ok else 1
    if not probe_tasks.shutdown(0 if not keyring_done else 1000):
        # A keyring call that never returns would keep the process alive at exit
        # (a thread pool joins its threads); nothing else is left to clean up.
        os._exit(code)
    return code
