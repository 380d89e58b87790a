"""The main window: pick an environment, a plan and a user; Run; read the outcome."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QRect, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QGuiApplication,
    QKeySequence,
    QPaintEvent,
    QShortcut,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QSystemTrayIcon,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from app.core.errors import ConfigError, PlanRunnerError, SetupError
from app.core.exchange import Canceller
from app.core.outcome import Category
from app.core.paths import AppPaths
from app.core.runner import Runner, RunRequest, RunResult, check_transport
from app.core.secrets import Connection
from app.core.tokens import token_facts
from app.core.urls import GatewayUrl, parse_gateway_url
from app.gui import icons, theme
from app.gui.banners import BannerArea, BannerSpec
from app.gui.id_field import Choice, IdField
from app.gui.recent_runs import RecentRuns, Rerun
from app.gui.result_panel import ResultPanel
from app.gui.tasks import TaskRunner

if TYPE_CHECKING:
    # The window is shown before these are loaded (see MainWindow.open): the
    # settings models, the history and the diagnostics are imported off the
    # GUI thread, after the first paint.
    from app.core.settings import Profile
    from app.core.workspace import Workspace
    from app.gui.history_view import HistoryView
    from app.gui.settings_dialog import SettingsDialog
    from app.gui.status_panel import StatusPanel

log = logging.getLogger(__name__)

SHUTDOWN_WAIT_MS = 2500
"""How long quitting waits for work in flight (the whole quit stays under 3 s)."""
ELAPSED_TICK_MS = 500
DEFAULT_SIZE = QSize(940, 860)
MAX_RECENT_IDS = 12


class DemoControls(Protocol):
    """What the window needs of demo mode (see :mod:`app.gui.demo`)."""

    @property
    def scenarios(self) -> tuple[str, ...]:
        """The gateway behaviours offered."""
        ...

    @property
    def scenario(self) -> str:
        """The behaviour in force."""
        ...

    def set_scenario(self, name: str) -> None:
        """Change the behaviour."""
        ...


@dataclass
class Opened:
    """What the window works on; opened after the window is first shown.

    Attributes:
        workspace: Profiles, their secrets and IT's policy.
        runner: Sends runs and records them in the history.
        keyring_problem: Why tokens are kept for this session only, if they are.
        notices: Other things to tell the user (from opening the history).
        history_view: The full history view, when the history could be opened.
        make_status_panel: Builds the Status tab's panel (token facts, the
            connectivity doctor, the support bundle) when it is first shown.
        recent: Recent runs from the history, newest first.
    """

    workspace: Workspace
    runner: Runner
    keyring_problem: str | None = None
    notices: list[str] = field(default_factory=list)
    history_view: HistoryView | None = None
    make_status_panel: Callable[[], StatusPanel] | None = None
    recent: list[Rerun] = field(default_factory=list)


@dataclass
class _Run:
    """The one run in flight: from the press of Run to its outcome."""

    profile: str
    plan_id: int
    user_id: int
    canceller: Canceller = field(default_factory=Canceller)
    started: float = field(default_factory=time.monotonic)
    host: str = ""
    sending: bool = False


@dataclass
class _ProfileState:
    """What the window knows of a profile's stored connection."""

    connection: Connection | None = None
    problem: str | None = None
    url_problem: str | None = None
    gateway: GatewayUrl | None = None


class _Column(QWidget):
    """A column whose minimum height is what its wrapped text needs at its width.

    A scroll area sizes its widget by the minimum size hint, and word-wrapped
    labels report one for an impossibly narrow width; that would show a scroll
    bar although everything fits.
    """

    def minimumSizeHint(self) -> QSize:
        """Return the height needed at the current width."""
        hint = super().minimumSizeHint()
        layout = self.layout()
        if layout is not None and layout.hasHeightForWidth() and self.width() > 0:
            return QSize(hint.width(), layout.totalHeightForWidth(self.width()))
        return hint


class Notifier:
    """Tells the user a run finished while the window was in the background."""

    def __init__(self, window: QWidget) -> None:
        self._window = window
        self._tray: QSystemTrayIcon | None = None

    def notify(self, title: str, message: str, critical: bool) -> None:
        """Show a desktop notification, or make the window ask for attention."""
        if QSystemTrayIcon.isSystemTrayAvailable():
            if self._tray is None:
                self._tray = QSystemTrayIcon(icons.icon(icons.APP_ICON), self._window)
                self._tray.setToolTip("Plan Runner")
                self._tray.activated.connect(self._on_tray_activated)
            self._tray.show()
            kind = (
                QSystemTrayIcon.MessageIcon.Warning
                if critical
                else QSystemTrayIcon.MessageIcon.Information
            )
            self._tray.showMessage(title, message, kind, 8000)
        else:
            QApplication.alert(self._window)

    def close(self) -> None:
        """Remove the tray icon, if one was shown."""
        if self._tray is not None:
            self._tray.hide()

    def _on_tray_activated(self, _reason: QSystemTrayIcon.ActivationReason) -> None:
        self._window.showNormal()
        self._window.raise_()
        self._window.activateWindow()


class MainWindow(QMainWindow):
    """Plan Runner's main window.

    The window is built and shown first; what it works on (settings, keyring,
    history) is opened off the GUI thread and handed over with :meth:`open`.
    Until then the form can be filled in, but nothing can be run.

    Args:
        tasks: The one background-task helper.
        paths: Where the app keeps its files (for About and the crash dialog).
        window_state: Where geometry and layout are remembered.
        demo: Demo mode's controls, when in demo mode.

    Signals:
        first_painted(): The window has painted itself once (emitted just after).
        opened(): :meth:`open` has run: profiles, history and status are in place.
        run_finished(object): A run ended with this :class:`RunResult`.
        run_refused(str): A press of Run sent nothing; the reason.
        connections_loaded(): The stored connections of the profiles are known.
    """

    first_painted = Signal()
    opened = Signal()
    run_finished = Signal(object)
    run_refused = Signal(str)
    connections_loaded = Signal()

    def __init__(
        self,
        tasks: TaskRunner,
        *,
        paths: AppPaths,
        window_state: QSettings,
        demo: DemoControls | None = None,
    ) -> None:
        super().__init__()
        self.workspace: Workspace | None = None
        self.runner: Runner | None = None
        self.tasks = tasks
        self.paths = paths
        self.window_state = window_state
        self.keyring_problem: str | None = None
        self.notices: list[str] = []
        self.open_problem: str | None = None
        self.opening_hint = "Opening…"
        self.demo = demo
        self.history_view: HistoryView | None = None
        self.status_panel: StatusPanel | None = None
        self._make_status_panel: Callable[[], StatusPanel] | None = None
        self._recent: list[Rerun] = []
        self._profiles: list[Profile] = []
        self._states: dict[str, _ProfileState] = {}
        self._run: _Run | None = None
        self._closed = False
        self._painted = False
        self.last_result: RunResult | None = None
        self.notifier = Notifier(self)

        self.setObjectName("mainWindow")
        self.setWindowIcon(icons.icon(icons.APP_ICON))
        self.setWindowTitle("Plan Runner")
        self.setMinimumSize(640, 560)

        self._build()
        self._build_menu()
        self._restore_window_state()
        self._update_profile_view()
        QGuiApplication.styleHints().colorSchemeChanged.connect(
            self._on_color_scheme_changed
        )

    # Building ---------------------------------------------------------------

    def _build(self) -> None:
        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)

        self.band = QFrame(central)
        self.band.setObjectName("colourBand")
        self.band.setFixedHeight(6)
        self.band.setAccessibleName("Environment colour")
        outer.addWidget(self.band)

        if self.demo is not None:
            outer.addWidget(self._build_demo_bar(central))

        top = _Column(central)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(22, 16, 22, 12)
        top_layout.setSpacing(14)

        self.banners = BannerArea(top)
        top_layout.addWidget(self.banners)
        top_layout.addWidget(self._build_form(top))

        self.result = ResultPanel(top)
        self.result.summary_copied.connect(self._on_result_summary_copied)
        self.result.fix_requested.connect(self._on_result_fix_requested)
        top_layout.addWidget(self.result)
        top_layout.addStretch(1)

        scroll = _scroll_area(central, top)

        bottom = self._build_runs_pane(central)

        self.splitter = QSplitter(Qt.Orientation.Vertical, central)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(scroll)
        self.splitter.addWidget(bottom)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([560, 290])
        outer.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        self.store_label = QLabel(self)
        self.store_label.setAccessibleName("Where tokens are kept")
        self.statusBar().addPermanentWidget(self.store_label)
        self.store_label.setText("Tokens: …")
        self.statusBar().setSizeGripEnabled(True)

        self._elapsed = QTimer(self)
        self._elapsed.setInterval(ELAPSED_TICK_MS)
        self._elapsed.timeout.connect(self._on_elapsed_timeout)

        for sequence in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(sequence), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(self._on_run_requested)

        self._restyle()

    def _build_runs_pane(self, parent: QWidget) -> QWidget:
        self.recent_runs: RecentRuns | None = None
        self.bottom_tabs = QTabWidget(parent)
        self.bottom_tabs.setDocumentMode(True)
        self.bottom_tabs.setAccessibleName("Runs")
        # Stands in for the history until it is open (see open()).
        self._opening_label = QLabel("Opening the history…", self.bottom_tabs)
        self._opening_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._opening_label.setEnabled(False)
        self.bottom_tabs.addTab(
            self._opening_label,
            icons.icon("history", theme.glyph_colour(self)),
            "History",
        )
        bottom = QWidget(parent)
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(22, 4, 22, 12)
        bottom_layout.addWidget(self.bottom_tabs)
        return bottom

    def _add_run_tabs(self) -> None:
        self.bottom_tabs.setUpdatesEnabled(False)
        self.bottom_tabs.clear()
        self._opening_label.deleteLater()
        history_icon = icons.icon("history", theme.glyph_colour(self))
        if self.history_view is not None:
            self.history_view.rerun_requested.connect(self._on_rerun_requested)
            self.bottom_tabs.addTab(self.history_view, history_icon, "History")
        else:
            self.recent_runs = RecentRuns(self.bottom_tabs)
            self.recent_runs.rerun_requested.connect(self._on_rerun_requested)
            self.bottom_tabs.addTab(self.recent_runs, history_icon, "Rece&nt runs")
        if self._make_status_panel is not None:
            # In a scroll area: the panel is tall, and must not squeeze the result.
            # The panel itself is built when the tab is first shown (see
            # _on_bottom_tab_changed): most sessions never open it.
            self._status_scroll = QScrollArea(self.bottom_tabs)
            self._status_scroll.setWidgetResizable(True)
            self._status_scroll.setFrameShape(QFrame.Shape.NoFrame)
            self.bottom_tabs.addTab(
                self._status_scroll,
                icons.icon("status", theme.glyph_colour(self)),
                "&Status",
            )
            self.bottom_tabs.currentChanged.connect(self._on_bottom_tab_changed)
            self.run_finished.connect(self._on_run_finished_for_status)
        self.bottom_tabs.setUpdatesEnabled(True)

    def _on_bottom_tab_changed(self, index: int) -> None:
        if self.status_panel is not None or self._make_status_panel is None:
            return
        if self.bottom_tabs.widget(index) is not self._status_scroll:
            return
        panel = self._make_status_panel()
        panel.message_posted.connect(self.statusBar().showMessage)
        panel.set_profile(self.current_profile_name())
        if self.last_result is not None:
            panel.set_last_run(self.last_result.outcome)
        self._status_scroll.setWidget(panel)
        self.status_panel = panel

    def _on_run_finished_for_status(self, result: RunResult) -> None:
        if self.status_panel is not None:
            self.status_panel.set_last_run(result.outcome)

    def _build_demo_bar(self, parent: QWidget) -> QWidget:
        assert self.demo is not None  # noqa: S101 - only built in demo mode
        bar = QFrame(parent)
        bar.setObjectName("demoBar")
        bar.setAccessibleName("Demo mode")
        chip = QLabel("DEMO", bar)
        chip.setObjectName("demoChip")
        chip.setAccessibleName("Demo mode")
        text = QLabel(
            "Nothing leaves this computer, and nothing is kept.",
            bar,
        )
        text.setObjectName("demoText")
        text.setToolTip(
            "A gateway simulator runs inside the app. Settings, history and the "
            "demo token live in a temporary folder removed when you quit."
        )
        self.demo_combo = QComboBox(bar)
        self.demo_combo.setAccessibleName("Demo gateway behaviour")
        from app.gui.demo import SCENARIO_LABELS  # noqa: PLC0415 - demo only

        for name in self.demo.scenarios:
            self.demo_combo.addItem(SCENARIO_LABELS.get(name, name), name)
        self.demo_combo.setCurrentIndex(
            max(0, self.demo_combo.findData(self.demo.scenario))
        )
        self.demo_combo.currentIndexChanged.connect(self._on_demo_combo_changed)
        label = QLabel("Demo gateway &behaviour:", bar)
        label.setBuddy(self.demo_combo)
        layout = QHBoxLayout(bar)
        layout.setContentsMargins(22, 7, 22, 7)
        layout.setSpacing(10)
        layout.addWidget(chip)
        layout.addWidget(text, 1)
        layout.addWidget(label)
        layout.addWidget(self.demo_combo)
        return bar

    def _build_form(self, parent: QWidget) -> QWidget:
        form = QFrame(parent)
        form.setObjectName("runForm")
        grid = QGridLayout(form)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(8)
        grid.setColumnMinimumWidth(0, 96)
        grid.setColumnStretch(1, 1)

        heading = QLabel("Queue a test plan", form)
        heading.setObjectName("heading")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        heading.setFont(font)
        grid.addWidget(heading, 0, 0, 1, 3)

        self._build_profile_row(form, grid)
        self.plan_field = self._build_id_row(form, grid, "plan", "&Plan", 3)
        self.user_field = self._build_id_row(form, grid, "user", "&User", 4)
        grid.addLayout(self._build_run_row(form), 5, 1, 1, 2)
        grid.setRowMinimumHeight(5, 44)

        QWidget.setTabOrder(self.profile_combo, self.settings_button)
        QWidget.setTabOrder(self.settings_button, self.plan_field.combo)
        QWidget.setTabOrder(self.plan_field.combo, self.user_field.combo)
        QWidget.setTabOrder(self.user_field.combo, self.run_button)
        return form

    def _build_profile_row(self, form: QWidget, grid: QGridLayout) -> None:
        self.profile_combo = QComboBox(form)
        self.profile_combo.setAccessibleName("Environment")
        self.profile_combo.setIconSize(QSize(14, 14))
        self.profile_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.profile_combo.setMinimumContentsLength(28)
        self.profile_combo.setSizePolicy(
            QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed
        )
        self.profile_combo.currentIndexChanged.connect(self._on_profile_combo_changed)
        self.settings_button = QPushButton("&Settings…", form)
        self.settings_button.setIcon(icons.icon("settings", theme.glyph_colour(self)))
        self.settings_button.setAccessibleName("Settings")
        self.settings_button.setToolTip("Profiles, gateway URLs and tokens")
        self.settings_button.clicked.connect(self._on_settings_requested)
        self.profile_hint = QLabel(form)
        self.profile_hint.setObjectName("profileHint")
        self.profile_hint.setWordWrap(True)
        profile_label = QLabel("&Environment", form)
        profile_label.setBuddy(self.profile_combo)
        grid.addWidget(profile_label, 1, 0)
        grid.addWidget(self.profile_combo, 1, 1)
        grid.addWidget(self.settings_button, 1, 2)
        grid.addWidget(self.profile_hint, 2, 1, 1, 2)

    def _build_id_row(
        self, form: QWidget, grid: QGridLayout, what: str, text: str, row: int
    ) -> IdField:
        id_field = IdField(what, form)
        id_field.value_changed.connect(self._on_id_field_value_changed)
        label = QLabel(text, form)
        label.setBuddy(id_field.combo)
        label.setMinimumHeight(id_field.combo.sizeHint().height())
        grid.addWidget(label, row, 0, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(id_field, row, 1, 1, 2)
        return id_field

    def _build_run_row(self, form: QWidget) -> QHBoxLayout:
        self.run_button = QPushButton("&Run", form)
        self.run_button.setObjectName("runButton")
        self.run_button.setIcon(icons.icon("run", "#ffffff"))
        self.run_button.setIconSize(QSize(16, 16))
        self.run_button.setAccessibleName("Run")
        self.run_button.setToolTip("Queue the plan (Ctrl+Enter)")
        self.run_button.setMinimumWidth(120)
        self.run_button.setMinimumHeight(34)
        self.run_button.clicked.connect(self._on_run_requested)
        self.run_hint = QLabel("Ctrl+Enter", form)
        self.run_hint.setObjectName("runHint")
        run_row = QHBoxLayout()
        run_row.setSpacing(12)
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.run_hint)
        run_row.addStretch(1)
        return run_row

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        settings = QAction("&Settings…", self)
        settings.setShortcut(QKeySequence.StandardKey.Preferences)
        settings.triggered.connect(self._on_settings_requested)
        file_menu.addAction(settings)
        retention = QAction("History &retention…", self)
        retention.triggered.connect(self._on_retention_requested)
        file_menu.addAction(retention)
        self._workspace_actions = (settings, retention)
        for action in self._workspace_actions:
            action.setEnabled(False)
        self.settings_button.setEnabled(False)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About Plan Runner", self)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    # Opening ------------------------------------------------------------------

    def open(self, opened: Opened) -> None:
        """Take what the window works on, and make it usable."""
        self.workspace = opened.workspace
        self.runner = opened.runner
        self.keyring_problem = opened.keyring_problem
        self.notices = list(opened.notices)
        self.history_view = opened.history_view
        self._make_status_panel = opened.make_status_panel
        self._recent = list(opened.recent)
        self.store_label.setText(f"Tokens: {opened.workspace.secrets.backend_name}")
        self._add_run_tabs()
        for action in self._workspace_actions:
            action.setEnabled(True)
        self.settings_button.setEnabled(True)
        typed_user = self.user_field.text().strip()
        self.reload_profiles()
        if typed_user:  # typed while opening: it wins over the default user
            self.user_field.set_text(typed_user)
        self.opened.emit()

    def show_opening_hint(self, hint: str) -> None:
        """Say what opening is waiting for (beside Run, until :meth:`open`)."""
        self.opening_hint = hint
        self._update_run_button()

    def show_open_problem(self, problem: str) -> None:
        """Say that what the window works on could not be opened."""
        self.open_problem = problem
        self._opening_label.setText("The history is not available.")
        self._update_profile_view()

    def _on_retention_requested(self) -> None:
        from app.gui.retention_dialog import RetentionDialog  # noqa: PLC0415

        if self.workspace is None or self.runner is None:
            return
        dialog = RetentionDialog(
            self.workspace.retention(),
            locked=self.workspace.is_locked("retention"),
            parent=self,
        )
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            self.workspace.set_retention(dialog.retention())
        except PlanRunnerError as error:
            QMessageBox.warning(self, "History retention", str(error))
            return
        self.tasks.submit(
            "apply history retention",
            self.runner.apply_retention,
            on_finished=self._on_retention_applied,
        )

    def _on_retention_applied(self, problem: str | None) -> None:
        if problem:
            self.statusBar().showMessage(problem)
        if self.history_view is not None:
            self.history_view.refresh()

    # Profiles ---------------------------------------------------------------

    def reload_profiles(self, select: str | None = None) -> None:
        """Read the profiles again and select ``select`` (or the last one used)."""
        if self.workspace is None:
            return
        self._profiles = self.workspace.profiles()
        names = [p.name for p in self._profiles]
        wanted = select or self.current_profile_name()
        if wanted not in names:
            wanted = self.workspace.settings.last_profile
        if wanted not in names:
            wanted = names[0] if names else None
        self.profile_combo.blockSignals(True)
        self.profile_combo.clear()
        for profile in self._profiles:
            self.profile_combo.addItem(
                icons.swatch(profile.colour), self._profile_label(profile), profile.name
            )
        if wanted is not None:
            self.profile_combo.setCurrentIndex(names.index(wanted))
        self.profile_combo.blockSignals(False)
        self._states = {
            name: state for name, state in self._states.items() if name in names
        }
        self._on_profile_combo_changed(self.profile_combo.currentIndex())
        self._load_connections()

    def current_profile_name(self) -> str | None:
        """Return the name of the profile selected, if any."""
        data = self.profile_combo.currentData()
        return data if isinstance(data, str) else None

    def current_profile(self) -> Profile | None:
        """Return the profile selected, if any."""
        name = self.current_profile_name()
        return next((p for p in self._profiles if p.name == name), None)

    def select_profile(self, name: str) -> bool:
        """Select the profile called ``name``; False when there is none."""
        index = self.profile_combo.findData(name)
        if index < 0:
            return False
        self.profile_combo.setCurrentIndex(index)
        return True

    def _profile_label(self, profile: Profile) -> str:
        state = self._states.get(profile.name)
        if state is None or (state.connection is None and state.problem is None):
            where = "…"
        elif state.gateway is not None:
            where = state.gateway.host
            if state.gateway.port is not None:
                where += f":{state.gateway.port}"
        elif state.problem:
            where = "keyring not readable"
        elif state.url_problem:
            where = "invalid gateway URL"
        else:
            where = "no gateway URL yet"
        return f"{profile.name}  —  {where}"

    def _load_connections(self) -> None:
        names = [p.name for p in self._profiles]
        if not names or self._closed:
            return
        workspace = self.workspace  # the worker gets the core object, not the window

        def load() -> dict[str, Connection | Exception]:
            found: dict[str, Connection | Exception] = {}
            for name in names:
                try:
                    found[name] = workspace.connection(name)
                except PlanRunnerError as error:
                    found[name] = error
            return found

        self.tasks.submit(
            "load connections",
            load,
            on_finished=self._on_connections_loaded,
            on_failed=self._on_connections_failed,
        )

    def _on_connections_loaded(self, found: dict[str, Connection | Exception]) -> None:
        for name, value in found.items():
            state = _ProfileState()
            if isinstance(value, Exception):
                state.problem = str(value)
            else:
                state.connection = value
                if value.gateway_url:
                    try:
                        state.gateway = parse_gateway_url(value.gateway_url)
                    except PlanRunnerError as error:
                        state.url_problem = str(error)
            self._states[name] = state
        for index, profile in enumerate(self._profiles):
            if index < self.profile_combo.count():
                self.profile_combo.setItemText(index, self._profile_label(profile))
        self._update_profile_view()
        self.connections_loaded.emit()

    def _on_connections_failed(self, error: Exception) -> None:
        for profile in self._profiles:
            self._states[profile.name] = _ProfileState(problem=str(error))
        self._update_profile_view()
        self.connections_loaded.emit()

    # The form ---------------------------------------------------------------

    def _on_profile_combo_changed(self, _index: int) -> None:
        profile = self.current_profile()
        self.plan_field.set_choices(self._choices(profile, "plan"))
        self.user_field.set_choices(self._choices(profile, "user"))
        if profile is not None and profile.default_user is not None:
            self.user_field.set_value(profile.default_user)
        self._update_profile_view()
        if self.status_panel is not None:
            self.status_panel.set_profile(self.current_profile_name())

    def _choices(self, profile: Profile | None, kind: str) -> list[Choice]:
        if profile is None:
            return []
        entries = profile.plans if kind == "plan" else profile.users
        choices = [Choice(e.id, e.name, e.favourite) for e in entries]
        recent_ids = []
        for rerun in self._recent:
            if rerun.profile not in (None, profile.name):
                continue
            value = rerun.plan_id if kind == "plan" else rerun.user_id
            if value not in recent_ids:
                recent_ids.append(value)
        choices.extend(Choice(i, recent=True) for i in recent_ids[:MAX_RECENT_IDS])
        return choices

    def _update_profile_view(self) -> None:
        profile = self.current_profile()
        # "Profile — Plan Runner": ending with the application's display name
        # stops Qt (xcb, Wayland) from appending it a second time.
        title = "Plan Runner"
        if profile is not None:
            title = f"{profile.name} — {title}"
        self.setWindowTitle(title)
        self._restyle_band(profile)
        hint = ""
        if profile is not None:
            state = self._states.get(profile.name)
            if state is not None and state.gateway is not None:
                hint = f"Runs go to {state.gateway.queue_url}"
            if profile.critical:
                hint += ("  ·  " if hint else "") + "Asks before each run"
        self.profile_hint.setText(hint)
        self.profile_hint.setVisible(bool(hint))
        self._update_banners()
        self._update_run_button()

    def _restyle_band(self, profile: Profile | None) -> None:
        colour = profile.colour if profile is not None and profile.colour else None
        fill = colour or theme.tone("neutral", self).border
        self.band.setStyleSheet(f"QFrame#colourBand {{ background: {fill}; }}")

    def _on_id_field_value_changed(self, _value: object) -> None:
        self._update_run_button()

    def _update_run_button(self) -> None:
        if self.workspace is None:
            self.run_button.setEnabled(False)
            self.run_hint.setText(
                "Cannot run: see above" if self.open_problem else self.opening_hint
            )
            return
        ready = (
            self._run is None
            and not self._closed
            and self.current_profile() is not None
            and self.plan_field.value() is not None
            and self.user_field.value() is not None
        )
        self.run_button.setEnabled(ready)
        if self._run is not None and self._run.sending:
            hint = "Waiting for the gateway…"
        elif self._run is not None:
            # Nothing is sent before the token is read: a keyring that is slow
            # to answer (or asks to be unlocked) is not the gateway's fault.
            hint = "Reading the token from the keyring…"
        elif self.current_profile() is None:
            hint = "Add an environment in Settings first"
        elif not self.plan_field.text().strip() or not self.user_field.text().strip():
            hint = "Enter a plan and a user"
        elif not ready:
            hint = "Correct the plan or user first"
        else:
            hint = "Ctrl+Enter"
        self.run_hint.setText(hint)

    # Banners ------------------------------------------------------------------

    def _update_banners(self) -> None:
        if self.workspace is None:
            problem = self.open_problem
            self.banners.set_banners(
                [BannerSpec("open", "red", problem)] if problem else []
            )
            return
        specs = [
            BannerSpec(f"problem-{i}", "red", problem)
            for i, problem in enumerate(self.workspace.problems)
        ]
        specs.extend(
            BannerSpec(f"notice-{i}", "amber", notice)
            for i, notice in enumerate(self.notices)
        )
        if self.keyring_problem:
            specs.append(
                BannerSpec(
                    "keyring",
                    "amber",
                    f"{self.keyring_problem} Tokens are kept for this session only: "
                    "you will need to set them again after you quit.",
                )
            )
        profile = self.current_profile()
        if profile is None:
            specs.append(
                BannerSpec(
                    "no_profile",
                    "info",
                    "No environment yet. Add your gateway's URL and your token to "
                    "start queuing plans.",
                    "Add environment…",
                    self._on_settings_requested,
                )
            )
            self.banners.set_banners(specs)
            return
        name = profile.name
        state = self._states.get(name)
        if state is not None and state.problem:
            specs.append(
                BannerSpec(
                    "keyring_read",
                    "red",
                    f"The connection of {name!r} cannot be read: {state.problem}",
                    "Try again",
                    self._load_connections,
                )
            )
        elif state is not None and state.connection is not None:
            connection = state.connection
            if state.url_problem:
                specs.append(
                    BannerSpec(
                        "gateway",
                        "red",
                        f"The gateway URL of {name!r} cannot be used: "
                        f"{state.url_problem}",
                        "Open settings…",
                        lambda: self.open_settings(name),
                    )
                )
            elif not connection.gateway_url:
                specs.append(
                    BannerSpec(
                        "gateway",
                        "red",
                        f"The profile {name!r} has no gateway URL yet.",
                        "Open settings…",
                        lambda: self.open_settings(name),
                    )
                )
            if not connection.token:
                specs.append(
                    BannerSpec(
                        "token",
                        "amber",
                        f"No token is stored for {name!r}. Runs need one: paste "
                        "the access token the gateway's team gave you.",
                        "Set token…",
                        lambda: self.open_settings(name, focus="token"),
                    )
                )
            else:
                facts = token_facts(connection.token)
                now = datetime.now(UTC)
                if facts.is_expired(now):
                    specs.append(
                        BannerSpec(
                            "token_expired",
                            "amber",
                            f"The token for {name!r} {facts.expiry_words(now)}. "
                            "Get a new one, or the gateway will refuse runs.",
                            "Set token…",
                            lambda: self.open_settings(name, focus="token"),
                        )
                    )
            gateway = state.gateway
            if (
                gateway is not None
                and gateway.is_plain_http
                and not gateway.is_loopback
            ):
                if profile.allow_plain_http:
                    specs.append(
                        BannerSpec(
                            "plain_http",
                            "amber",
                            f"{name!r} sends your token unencrypted (plain http) to "
                            f"{gateway.host}. Use https:// if the gateway offers it.",
                        )
                    )
                else:
                    specs.append(
                        BannerSpec(
                            "plain_http",
                            "red",
                            f"{name!r} points at plain http on {gateway.host}, so "
                            "Plan Runner will not send your token there. Change the "
                            "URL to https://, or allow plain http in the profile.",
                            "Open settings…",
                            lambda: self.open_settings(name),
                        )
                    )
        self.banners.set_banners(specs)

    # Running ----------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether a run is between the press of Run and its outcome."""
        return self._run is not None

    def _on_run_requested(self) -> None:
        # One press, one request: a second press while a run is in flight (or
        # through the shortcut while the button is disabled) does nothing.
        if self._run is not None or self._closed:
            return
        profile = self.current_profile()
        plan_id, user_id = self.plan_field.value(), self.user_field.value()
        if profile is None or plan_id is None or user_id is None:
            return
        run = _Run(profile.name, plan_id, user_id)
        self._run = run
        self._update_run_button()
        name = profile.name
        workspace = self.workspace  # the worker gets the core object, not the window

        def prepare() -> RunRequest:
            try:
                workspace.remember_last_profile(name)
            except ConfigError as error:
                log.warning("Could not remember the last profile: %s", error)
            return workspace.run_request(name, plan_id, user_id)

        self.tasks.submit(
            "prepare run",
            prepare,
            on_finished=lambda request: self._on_run_prepared(run, request),
            on_failed=lambda error: self._on_run_failed(run, error),
        )

    def _on_run_prepared(self, run: _Run, request: RunRequest) -> None:
        if run is not self._run or self._closed:
            return
        try:
            check_transport(request.gateway, request.allow_plain_http)
        except SetupError as error:
            self._refuse(
                run, "Plain http to a remote gateway is not allowed", str(error)
            )
            return
        now = datetime.now(UTC)
        facts = token_facts(request.token)
        if facts.is_expired(now) and not self._ask(
            "Token expired",
            f"Your token {facts.expiry_words(now)}; send anyway?\n\n"
            "The gateway will most likely refuse it.",
        ):
            self._refuse(
                run,
                "Kept back: your token has expired",
                "Set a new token (Settings), then run again.",
            )
            return
        critical = any(p.critical for p in self._profiles if p.name == run.profile)
        if critical and not self._ask(
            "Confirm run",
            f"Queue plan {run.plan_id} for user {run.user_id} on "
            f"{request.gateway.host}?\n\n{run.profile!r} is marked as critical.",
        ):
            self._refuse(
                run, "Kept back at your request", "You chose not to queue the run."
            )
            return
        if run is not self._run or self._closed:
            return
        self._send(run, request)

    def _send(self, run: _Run, request: RunRequest) -> None:
        run.sending = True
        self._update_run_button()
        run.host = request.gateway.host
        run.started = time.monotonic()
        self.result.show_busy(run.plan_id, run.user_id, run.host, 0)
        self._elapsed.start()
        canceller, runner = run.canceller, self.runner
        self.tasks.submit(
            "run",
            lambda: runner.run(request, canceller),
            on_finished=lambda result: self._on_run_done(run, request, result),
            on_failed=lambda error: self._on_run_failed(run, error),
        )

    def _on_run_done(self, run: _Run, request: RunRequest, result: RunResult) -> None:
        self._end_run(run)
        self.last_result = result
        outcome = result.outcome
        rerun = Rerun(outcome.plan_id, outcome.user_id, outcome.profile)
        self._recent.insert(0, rerun)
        if self._closed:
            self.run_finished.emit(result)
            return
        self.result.show_outcome(
            outcome,
            plan_name=request.plan_name,
            user_name=request.user_name,
            history_problem=result.history_problem,
        )
        if self.recent_runs is not None:
            self.recent_runs.add(outcome, request.plan_name, request.user_name)
        if self.history_view is not None:
            self.history_view.refresh()
        profile = self.current_profile()
        self.plan_field.set_choices(self._choices(profile, "plan"))
        self.user_field.set_choices(self._choices(profile, "user"))
        self.statusBar().showMessage(
            f"{theme.CATEGORY_LABEL[outcome.category]}: {outcome.title}", 15000
        )
        if not self.isActiveWindow():
            self.notifier.notify(
                f"Plan Runner: {theme.CATEGORY_LABEL[outcome.category]}",
                outcome.title,
                outcome.category is not Category.QUEUED,
            )
        self.run_finished.emit(result)

    def _on_run_failed(self, run: _Run, error: Exception) -> None:
        if run is not self._run:
            return
        if not run.sending:
            title = (
                "The run could not be prepared"
                if isinstance(error, PlanRunnerError)
                else "Something went wrong"
            )
            self._refuse(run, title, _error_text(error, self.paths))
            return
        # Failing while sending: the request may have left, so say so.
        self._refuse(
            run,
            "The run stopped unexpectedly",
            f"{_error_text(error, self.paths)} The plan may have been queued: check "
            "the test system before running it again.",
            kicker="Maybe sent",
        )

    def _refuse(
        self, run: _Run, title: str, message: str, kicker: str = "Nothing was sent"
    ) -> None:
        self._end_run(run)
        if not self._closed:
            self.result.show_not_sent(title, message, kicker)
        self.run_refused.emit(message)

    def _end_run(self, run: _Run) -> None:
        if run is self._run:
            self._run = None
        self._elapsed.stop()
        if not self._closed:
            self._update_run_button()

    def _ask(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(
            self,
            title,
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _on_elapsed_timeout(self) -> None:
        run = self._run
        if run is not None and run.sending:
            elapsed = int(time.monotonic() - run.started)
            self.result.set_elapsed(run.host, elapsed)

    # Filling the form ------------------------------------------------------------

    def fill_form(self, profile: str | None, plan_id: int, user_id: int) -> None:
        """Put a run into the form without sending it."""
        if profile:
            self.select_profile(profile)
        self.plan_field.set_value(plan_id)
        self.user_field.set_value(user_id)
        self.plan_field.setFocus()

    def _on_rerun_requested(self, row: object) -> None:
        plan_id = getattr(row, "plan_id", None)
        user_id = getattr(row, "user_id", None)
        if not isinstance(plan_id, int) or not isinstance(user_id, int):
            return
        self.fill_form(getattr(row, "profile", None), plan_id, user_id)
        self.statusBar().showMessage(
            "The form holds that run again. Check it, then press Run.", 8000
        )

    def _on_result_fix_requested(self, part: str) -> None:
        outcome = self.result.outcome
        profile = outcome.profile if outcome is not None else None
        self.open_settings(profile, focus=part)

    def _on_result_summary_copied(self, _summary: str) -> None:
        self.statusBar().showMessage("Summary copied to the clipboard.", 5000)

    def _on_demo_combo_changed(self, _index: int) -> None:
        if self.demo is None:
            return
        name = self.demo_combo.currentData()
        self.demo.set_scenario(name)
        self.statusBar().showMessage(f"The demo gateway now behaves as: {name}", 5000)

    # Dialogs ------------------------------------------------------------------

    def open_settings(
        self, profile: str | None = None, *, focus: str | None = None
    ) -> SettingsDialog:
        """Open the settings dialog on ``profile`` (or the current one)."""
        dialog = self.make_settings_dialog(profile, focus=focus)
        dialog.exec()
        dialog.deleteLater()
        return dialog

    def make_settings_dialog(
        self, profile: str | None = None, *, focus: str | None = None
    ) -> SettingsDialog:
        """Return the settings dialog, wired to refresh this window.

        Raises:
            RuntimeError: The window is not open yet (see :meth:`open`).
        """
        from app.gui.settings_dialog import SettingsDialog  # noqa: PLC0415

        if self.workspace is None:
            raise RuntimeError("the settings need the opened workspace")
        dialog = SettingsDialog(
            self.workspace,
            self.tasks,
            self,
            initial_profile=profile or self.current_profile_name(),
            focus=focus,
        )
        dialog.profiles_changed.connect(self._on_settings_profiles_changed)
        return dialog

    def _on_settings_requested(self) -> None:
        if self.workspace is not None:
            self.open_settings()

    def _on_settings_profiles_changed(self, name: str) -> None:
        self.reload_profiles(name or None)

    def show_about(self) -> None:
        """Show the version, where data lives and the keyring in use."""
        QMessageBox.about(self, "About Plan Runner", self.about_text())

    def about_text(self) -> str:
        """Return the About text."""
        paths = self.paths
        lines = [
            f"<h3>Plan Runner {__version__}</h3>",
            "<p>Queue test plans on your test gateway, and read in plain words "
            "what it answered.</p>",
            "<p><b>Where data lives</b><br>",
            f"Settings: {_html(paths.config_dir)}<br>",
            f"History: {_html(paths.data_dir)}<br>",
            f"Logs: {_html(paths.log_dir)}</p>",
            f"<p><b>Tokens and gateway URLs</b><br>"
            f"{_html(self.workspace.secrets.backend_name if self.workspace else '…')}"
            "</p>",
        ]
        if self.demo is not None:
            lines.append("<p>Demo mode: these folders are removed when you quit.</p>")
        return "".join(lines)

    # Looks ------------------------------------------------------------------

    def _restyle(self) -> None:
        muted = theme.muted_text(self).name()
        dark = theme.is_dark(self)
        accent = "#2a7592" if dark else "#1f6f8b"
        hover = "#338aa9" if dark else "#185a71"
        demo = theme.tone("info", self)
        self.setStyleSheet(
            f"QLabel#runHint, QLabel#profileHint {{ color: {muted}; }}"
            f"QPushButton#runButton {{ background: {accent}; color: #ffffff; "
            "border: none; border-radius: 6px; padding: 6px 18px; font-weight: 600; }"
            f"QPushButton#runButton:hover {{ background: {hover}; }}"
            "QPushButton#runButton:focus { outline: none; border: 2px solid "
            f"{theme.glyph_colour(self).name()}; }}"
            "QPushButton#runButton:disabled { background: "
            f"{theme.tone('neutral', self).border}; color: {muted}; }}"
            f"QFrame#demoBar {{ background: {demo.background}; "
            f"border-bottom: 1px solid {demo.border}; }}"
            f"QLabel#demoChip {{ background: {demo.accent}; color: {demo.background}; "
            "border-radius: 4px; padding: 1px 7px; font-weight: 700; }"
            f"QLabel#demoText {{ color: {demo.accent}; }}"
        )
        self._restyle_band(self.current_profile())

    def _on_color_scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        self._restyle()
        self.result.restyle()
        self._update_banners()

    # Window state and quitting ------------------------------------------------------

    def _restore_window_state(self) -> None:
        geometry = self.window_state.value("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(_fitting(DEFAULT_SIZE, self.screen().availableGeometry()))
        splitter = self.window_state.value("window/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)

    def _save_window_state(self) -> None:
        self.window_state.setValue("window/geometry", self.saveGeometry())
        self.window_state.setValue("window/splitter", self.splitter.saveState())
        self.window_state.sync()

    def paintEvent(self, event: QPaintEvent) -> None:
        """Paint; the first time, say so once the paint is done."""
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self.first_painted.emit)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Quit cleanly: cancel a run in flight and wait briefly for the workers."""
        if not self._closed:
            self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Cancel the run in flight, wait for the workers (at most ~2.5 s)."""
        self._closed = True
        started = time.monotonic()
        self._save_window_state()
        self._elapsed.stop()
        self.statusBar().clearMessage()  # stops the message's own timer
        run = self._run
        if run is not None:
            log.info("Quitting with a run in flight: cancelling it")
            run.canceller.cancel()
        self.tasks.shutdown(SHUTDOWN_WAIT_MS)
        self.notifier.close()
        log.info("Window closed in %.0f ms", (time.monotonic() - started) * 1000)


def _scroll_area(parent: QWidget, content: QWidget) -> QScrollArea:
    """Return a frameless scroll area around ``content`` that Tab passes by.

    The area itself would be a Tab stop that shows no focus; it still scrolls
    to the field that has the focus.
    """
    scroll = QScrollArea(parent)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    scroll.setWidget(content)
    return scroll


WINDOW_FRAME = QSize(16, 48)
"""Room left on the screen for the window manager's frame and title bar."""


def _fitting(size: QSize, available: QRect) -> QSize:
    """Return ``size``, made smaller where the screen's free area is smaller."""
    if available.isEmpty():
        return size
    return size.boundedTo(available.size() - WINDOW_FRAME)


def _error_text(error: Exception, paths: AppPaths) -> str:
    if isinstance(error, PlanRunnerError):
        return str(error)
    return (
        f"An unexpected error stopped the run ({type(error).__name__}). The "
        f"details are in the log: {paths.log_file}."
    )


def _html(value: object) -> str:
    import html  # noqa: PLC0415

    return html.escape(str(value))
