"""Fixtures of the GUI tests: a private home, an in-memory keyring, a simulator.

Every test also fails when it leaves a thread alive, a QTimer running, the
app's thread pool busy, or when Qt logged a warning.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer, QtMsgType
from PySide6.QtWidgets import QApplication

from app.core.paths import AppPaths
from app.core.redact import Redactor
from app.core.secrets import KeyringStore, SecretStore
from app.core.settings import Profile
from app.core.workspace import Workspace
from app.gui.main import Gui, build_gui, create_application
from app.gui.main_window import MainWindow
from app.gui.tasks import TaskRunner
from app.sim import Simulator

TOKEN = "demo-token"
SLOW_SECONDS = 1.5
THREAD_GRACE_SECONDS = 2.0

# The offscreen platform says this whenever a window is shown; it describes the
# test platform (no window manager to pass size hints to), not the app.
OFFSCREEN_NOISE = ("This plugin does not support propagateSizeHints()",)


# Leak checks -------------------------------------------------------------------


def _live_native_ids() -> set[int] | None:
    try:
        return {int(name) for name in os.listdir("/proc/self/task")}
    except OSError:
        return None


def _leaked_threads(before: set[threading.Thread]) -> list[str]:
    live = _live_native_ids()
    leaked = []
    for thread in threading.enumerate():
        if thread in before or thread is threading.main_thread():
            continue
        if isinstance(thread, threading._DummyThread):
            # A thread Python did not start (a Qt pool worker that ran Python
            # code): threading never forgets it, so ask the OS whether it lives.
            if live is not None and thread.native_id in live:
                leaked.append(f"{thread.name} (native {thread.native_id})")
        elif thread.is_alive():
            leaked.append(thread.name)
    return leaked


def _running_timers() -> list[str]:
    app = QApplication.instance()
    roots: list[QObject] = [app, *QApplication.topLevelWidgets()]
    found = []
    for root in roots:
        for timer in root.findChildren(QTimer):
            if timer.isActive():
                found.append(f"{timer.objectName() or 'QTimer'} of {root}")
    return found


@pytest.fixture(scope="session", autouse=True)
def _application(qapp: QApplication) -> QApplication:
    return create_application()


@pytest.fixture(autouse=True)
def _no_leaks(qapp: QApplication, qtlog: Any) -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    # Let deleteLater() and queued deliveries happen before looking.
    for _ in range(3):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        qapp.processEvents()
    deadline = time.monotonic() + THREAD_GRACE_SECONDS
    leaked = _leaked_threads(before)
    while leaked and time.monotonic() < deadline:
        time.sleep(0.05)
        leaked = _leaked_threads(before)
    problems = []
    if leaked:
        problems.append(f"threads left alive: {leaked}")
    timers = _running_timers()
    if timers:
        problems.append(f"QTimers left running: {timers}")
    warnings = [
        record.message
        for record in qtlog.records
        if record.type in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg)
        and record.message not in OFFSCREEN_NOISE
    ]
    if warnings:
        problems.append(f"Qt warnings: {warnings}")
    for widget in QApplication.topLevelWidgets():
        # hide(), not close(): closing may ask questions (unsaved changes).
        widget.hide()
        widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    if problems:
        pytest.fail("; ".join(problems))


# The app's collaborators ----------------------------------------------------------


@pytest.fixture
def keyring_backend(memory_keyring: Any) -> Any:
    """The in-memory keyring of tests/conftest.py, under the GUI tests' name."""
    return memory_keyring


@pytest.fixture(autouse=True)
def _private_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keyring_backend: Any
) -> Path:
    """Keep every test away from the user's files and keyring."""
    home = tmp_path / "home"
    monkeypatch.setenv("PLAN_RUNNER_HOME", str(home))
    # Should anything ask keyring for "the" backend, it gets the in-memory one.
    monkeypatch.setattr("keyring.core._keyring_backend", keyring_backend)
    return home


@pytest.fixture
def paths(_private_home: Path) -> AppPaths:
    return AppPaths.from_environment()


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture
def secrets(keyring_backend: Any, redactor: Redactor) -> KeyringStore:
    return KeyringStore(keyring_backend, redactor)


@pytest.fixture
def gateway() -> Iterator[Simulator]:
    simulator = Simulator(tokens=(TOKEN,), slow_seconds=SLOW_SECONDS)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def tasks(qapp: QApplication) -> Iterator[TaskRunner]:
    runner = TaskRunner()
    yield runner
    finished = runner.pool.waitForDone(3000)
    active = runner.pool.activeThreadCount()
    runner.deleteLater()
    assert finished, "the app's thread pool was still busy after the test"
    assert active == 0, f"{active} pool thread(s) still active after the test"


@pytest.fixture
def add_profile(
    paths: AppPaths, redactor: Redactor, secrets: SecretStore
) -> Callable[..., Profile]:
    """Save a profile (with URL and token) before the window opens."""

    def add(
        name: str,
        url: str | None,
        token: str | None = TOKEN,
        **fields: Any,
    ) -> Profile:
        workspace = Workspace.open(paths, redactor, secrets)
        profile = Profile(name=name, **fields)
        workspace.save_profile(profile, gateway_url=url, token=token)
        return profile

    return add


@pytest.fixture
def open_gui(
    qtbot: Any,
    paths: AppPaths,
    redactor: Redactor,
    secrets: SecretStore,
    tasks: TaskRunner,
) -> Iterator[Callable[..., Gui]]:
    """Build the GUI the way the app does; closed after the test."""
    opened: list[Gui] = []

    def open_(secret_store: SecretStore | None = None) -> Gui:
        gui = build_gui(paths, redactor, tasks, secrets=secret_store or secrets)
        opened.append(gui)
        window = gui.window
        if window.current_profile() is not None:
            with qtbot.waitSignal(window.connections_loaded, timeout=5000):
                window.show()
        else:
            window.show()
        qtbot.waitExposed(window)
        return gui

    yield open_
    for gui in opened:
        gui.close()


@pytest.fixture
def press_run(qtbot: Any) -> Callable[..., Any]:
    """Press Run and wait for the run's RunResult."""

    def press(window: MainWindow, timeout: int = 8000) -> Any:
        with qtbot.waitSignal(window.run_finished, timeout=timeout) as blocker:
            window.run_button.click()
        return blocker.args[0]

    return press
