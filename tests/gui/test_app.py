"""The app as a whole: self-check, demo mode, window state, the task helper."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from PySide6.QtCore import QRect, QSettings
from PySide6.QtGui import QColor

from app.core.errors import SetupError
from app.core.outcome import Category
from app.gui import icons
from app.gui.demo import (
    DEMO_CRITICAL_PROFILE,
    DEMO_PROFILE,
    DemoEnvironment,
)
from app.gui.main import build_gui
from app.gui.tasks import TaskRunner
from app.sim import SCENARIOS


def test_every_icon_renders():
    assert icons.check_icons() == []


def test_an_icon_is_rendered_once_per_colour(monkeypatch):
    # The recent runs and the history ask for the same outcome icons after
    # every run, on the GUI thread.
    rendered = []
    real_pixmap = icons.pixmap
    monkeypatch.setattr(
        icons, "pixmap", lambda *args: rendered.append(args) or real_pixmap(*args)
    )
    # Colours no other test uses: none of these is rendered yet.
    first = icons.icon("run", "#336699")
    once = len(rendered)
    assert once == len(icons.ICON_SIZES) * 2
    again = icons.icon("run", QColor(0x33, 0x66, 0x99))
    assert len(rendered) == once
    assert again.cacheKey() == first.cacheKey()
    icons.icon("run", "#993366")
    assert len(rendered) == 2 * once


def test_self_check_reports_and_exits_zero_offscreen(tmp_path):
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PLAN_RUNNER_HOME": str(tmp_path / "home"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from app.cli import main; raise SystemExit(main())",
            "--self-check",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Icons: OK" in done.stdout
    assert "Window: OK" in done.stdout
    assert "Keyring: unavailable: No keyring is available" in done.stdout
    assert "Result: OK" in done.stdout
    assert elapsed < 20
    assert not (tmp_path / "home" / "config" / "settings.json").exists()


@pytest.fixture
def demo(redactor, tmp_path):
    environment = DemoEnvironment(redactor).start()
    yield environment
    environment.close()


def test_demo_mode_has_two_profiles_a_catalogue_and_a_gateway(
    qtbot, demo, redactor, tasks, press_run
):
    gui = build_gui(demo.paths, redactor, tasks, demo=demo)
    try:
        window = gui.window
        with qtbot.waitSignal(window.connections_loaded, timeout=5000):
            window.show()
        profiles = {p.name: p for p in gui.workspace.profiles()}
        assert set(profiles) == {DEMO_PROFILE, DEMO_CRITICAL_PROFILE}
        assert profiles[DEMO_CRITICAL_PROFILE].critical
        assert profiles[DEMO_PROFILE].colour != profiles[DEMO_CRITICAL_PROFILE].colour
        assert [e.name for e in profiles[DEMO_PROFILE].plans] == [
            "Smoke suite",
            "Checkout regression",
            "Big-ID plan",
        ]
        assert window.current_profile_name() == DEMO_PROFILE
        assert window.user_field.value() == 1
        assert window.banners.shown_keys() == []
        assert [
            window.demo_combo.itemData(i) for i in range(window.demo_combo.count())
        ] == list(SCENARIOS)
        # Every behaviour is named in words, not by its code name.
        assert not {
            window.demo_combo.itemText(i) for i in range(window.demo_combo.count())
        } & set(SCENARIOS)

        window.plan_field.set_text("Smoke suite")
        assert press_run(window).outcome.category is Category.QUEUED

        window.demo_combo.setCurrentIndex(window.demo_combo.findData("empty401"))
        assert demo.scenario == "empty401"
        assert press_run(window).outcome.category is Category.AUTH
        assert str(demo.paths.config_dir).startswith(str(demo.home))
    finally:
        gui.close()


def test_demo_mode_removes_its_folder_on_close(redactor):
    environment = DemoEnvironment(redactor).start()
    home = environment.home
    assert home.exists()
    environment.close()
    assert not home.exists()


def test_window_geometry_is_remembered_in_the_config_folder(
    qtbot, paths, redactor, secrets, gateway, add_profile
):
    add_profile("Stage", gateway.url)
    first_tasks = TaskRunner()
    gui = build_gui(paths, redactor, first_tasks, secrets=secrets)
    gui.window.show()
    gui.window.resize(730, 590)
    qtbot.wait(20)
    gui.close()
    ini = paths.config_dir / "window.ini"
    assert ini.exists()
    assert "demo-token" not in ini.read_text(encoding="latin-1")
    assert QSettings(str(ini), QSettings.Format.IniFormat).value("window/geometry")

    second_tasks = TaskRunner()
    again = build_gui(paths, redactor, second_tasks, secrets=secrets)
    try:
        again.window.show()
        assert again.window.size().width() == 730
        assert again.window.size().height() == 590
    finally:
        again.close()
    first_tasks.deleteLater()
    second_tasks.deleteLater()


def test_tasks_report_on_the_gui_thread_with_plain_data(qtbot, tasks):
    seen = []
    with qtbot.waitSignal(tasks.submit("add", lambda: 40 + 2).finished) as blocker:
        pass
    assert blocker.args == [42]

    def fail():
        raise SetupError("no keyring")

    task = tasks.submit(
        "fail",
        fail,
        on_failed=lambda error: seen.append(
            (threading.current_thread() is threading.main_thread(), str(error))
        ),
    )
    qtbot.waitUntil(lambda: task.done, timeout=3000)
    assert seen == [(True, "no keyring")]


def test_the_task_helper_runs_work_off_the_gui_thread(qtbot, tasks):
    task = tasks.submit("where", threading.get_ident)
    with qtbot.waitSignal(task.finished) as blocker:
        pass
    assert blocker.args[0] != threading.main_thread().ident


def test_a_shut_down_task_helper_refuses_new_work(tasks):
    assert tasks.shutdown(1000)
    with pytest.raises(RuntimeError, match="shut down"):
        tasks.submit("late", lambda: None)


def test_the_keyring_is_opened_off_the_gui_thread_at_start(
    paths, redactor, tasks, keyring_backend
):
    from app.core.secrets import KeyringStore, open_secret_store

    on_main_thread = []

    def open_secrets(redactor):
        on_main_thread.append(threading.current_thread() is threading.main_thread())
        return open_secret_store(redactor)

    gui = build_gui(paths, redactor, tasks, open_secrets=open_secrets)
    try:
        assert on_main_thread == [False]
        assert isinstance(gui.workspace.secrets, KeyringStore)
        assert gui.workspace.secrets.backend_name.endswith("MemoryKeyring")
        assert gui.window.keyring_problem is None
    finally:
        gui.close()


def test_the_window_shows_and_takes_input_before_the_keyring_answers(
    qtbot, paths, redactor, tasks, keyring_backend, secrets, gateway, add_profile
):
    from app.core.secrets import KeyringStore
    from app.gui.main import open_window, start_gui

    add_profile("Stage", gateway.url, default_user=1)
    answer = threading.Event()
    history_open_first = []

    def slow_keyring(redactor):
        # Never beside the history's task: two threads importing at once can
        # break an import (see Opening._open_keyring).
        history_open_first.append(opening.history is not None)
        answer.wait(10)
        return KeyringStore(keyring_backend, redactor)

    gui, opening = start_gui(paths, redactor, tasks, open_secrets=slow_keyring)
    opening.on_ready = lambda: open_window(gui, opening)
    window = gui.window
    try:
        with qtbot.waitSignal(window.first_painted, timeout=3000):
            window.show()
        opening.start()
        window.plan_field.set_text("681")
        window.user_field.set_text("7")
        qtbot.wait(200)  # the history is open by now; the keyring still says nothing
        assert opening.history is not None
        assert history_open_first == [True]
        assert window.workspace is None
        assert not window.run_button.isEnabled()
        assert not window.settings_button.isEnabled()
        assert window.run_hint.text().startswith("Waiting for the keyring")
        assert window.bottom_tabs.tabText(0) == "History"
        assert window.banners.shown_keys() == []

        with qtbot.waitSignal(window.opened, timeout=5000):
            answer.set()
        qtbot.waitUntil(window.run_button.isEnabled, timeout=5000)
        assert window.current_profile_name() == "Stage"
        assert window.settings_button.isEnabled()
        # What was typed while opening is kept.
        assert (window.plan_field.value(), window.user_field.value()) == (681, 7)
        assert window.keyring_problem is None
        assert gui.workspace is not None
        assert gui.workspace.secrets.backend_name.endswith("MemoryKeyring")
        assert [window.bottom_tabs.tabText(i) for i in range(2)] == [
            "History",
            "&Status",
        ]
    finally:
        answer.set()
        gui.close()


def test_a_keyring_that_never_answers_gives_way_to_a_session_store(
    qtbot, monkeypatch, paths, redactor, tasks
):
    import app.gui.main as gui_main

    monkeypatch.setattr(gui_main, "KEYRING_WAIT_SECONDS", 0.3)
    hung = threading.Event()
    gui, opening = gui_main.start_gui(
        paths, redactor, tasks, open_secrets=lambda redactor: hung.wait(10)
    )
    opening.on_ready = lambda: gui_main.open_window(gui, opening)
    try:
        started = time.monotonic()
        with qtbot.waitSignal(gui.window.opened, timeout=5000):
            gui.window.show()
            opening.start()
        assert time.monotonic() - started < 3
        assert "did not answer within 0.3 s" in gui.window.keyring_problem
        assert "keyring" in gui.window.banners.shown_keys()
    finally:
        hung.set()
        gui.close()


def test_when_the_history_cannot_be_opened_the_window_says_so(
    qtbot, monkeypatch, caplog, paths, redactor, tasks, secrets
):
    import app.gui.main as gui_main

    def broken(path):
        raise OSError("disk on fire")

    monkeypatch.setattr(gui_main, "open_history_for_window", broken)
    gui, opening = gui_main.start_gui(paths, redactor, tasks, secrets=secrets)
    done = []
    opening.on_ready = lambda: (gui_main.open_window(gui, opening), done.append(1))
    try:
        gui.window.show()
        opening.start()
        qtbot.waitUntil(lambda: bool(done), timeout=5000)
        window = gui.window
        assert window.workspace is None
        assert window.banners.shown_keys() == ["open"]
        assert "could not open its settings and history (OSError)" in (
            window.open_problem or ""
        )
        assert not window.run_button.isEnabled()
        assert window.run_hint.text() == "Cannot run: see above"
        assert "Could not open the settings and the history" in caplog.text
        assert "disk on fire" in caplog.text
    finally:
        gui.close()


def test_a_file_where_the_home_folder_must_be_is_said_in_a_dialog(
    qtbot, monkeypatch, tmp_path, capsys
):
    import app.gui.main as gui_main
    from app.cli import main

    home = tmp_path / "home-is-a-file"
    home.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("PLAN_RUNNER_HOME", str(home))
    said = []
    monkeypatch.setattr(gui_main, "tell_cannot_start", said.append)
    assert main([]) == 8
    assert len(said) == 1
    assert f"PLAN_RUNNER_HOME must be a folder, but {home} is a file" in said[0]
    assert said[0] in capsys.readouterr().err
    assert home.read_text(encoding="utf-8") == "not a folder"


def test_closing_the_window_while_it_opens_closes_the_history_and_opens_nothing(
    qtbot, paths, redactor, tasks, keyring_backend
):
    from app.core.errors import HistoryError
    from app.core.history import HistoryFilter
    from app.core.secrets import KeyringStore
    from app.gui.main import open_window, start_gui

    answer = threading.Event()

    def slow_keyring(redactor):
        answer.wait(10)
        return KeyringStore(keyring_backend, redactor)

    gui, opening = start_gui(paths, redactor, tasks, open_secrets=slow_keyring)
    opening.on_ready = lambda: open_window(gui, opening)
    opened = []
    gui.window.opened.connect(lambda: opened.append(True))
    gui.window.show()
    opening.start()
    qtbot.waitUntil(lambda: opening.history is not None, timeout=5000)
    store = opening.history.store
    gui.close()
    answer.set()
    qtbot.wait(100)
    assert opened == []
    assert gui.window.workspace is None
    with pytest.raises(HistoryError, match="closed"):
        store.page(HistoryFilter(), limit=1)


def test_qt_calls_keep_none_alive(qapp):
    # PySide6 6.12.0 released a reference to None on every Qt call that returns
    # nothing; on Python 3.11 (where None is not immortal) the app aborted with
    # "deallocating None" after a few hundred runs.
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.setText("x")
        label.setWindowTitle("y")
    assert sys.getrefcount(None) - before > -100
    label.deleteLater()


def test_quitting_while_it_opens_opens_nothing_afterwards(
    qtbot, paths, redactor, tasks, keyring_backend
):
    from app.core.secrets import KeyringStore
    from app.gui.main import open_window, start_gui

    def slow_keyring(redactor):
        time.sleep(0.3)  # answers while the window is shutting down
        return KeyringStore(keyring_backend, redactor)

    gui, opening = start_gui(paths, redactor, tasks, open_secrets=slow_keyring)
    ready = []
    opening.on_ready = lambda: (ready.append(True), open_window(gui, opening))
    gui.window.show()
    opening.start()
    qtbot.waitUntil(lambda: opening.history is not None, timeout=5000)
    gui.window.close()  # waits for the keyring's task, as quitting does
    qtbot.wait(200)
    assert ready == []
    assert gui.window.workspace is None
    gui.close()


HUNG_KEYRING = """
import time
import keyring.backend

class Hung(keyring.backend.KeyringBackend):
    priority = 1

    def __init__(self):
        time.sleep(3600)  # a D-Bus that accepts and never answers

    def get_password(self, service, username):
        return None

    def set_password(self, service, username, password):
        pass

    def delete_password(self, service, username):
        pass
"""

CLOSE_SOON = """
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import app.gui.main as gui_main

gui_main.KEYRING_WAIT_SECONDS = 0.5
app = QApplication([])
QTimer.singleShot(1500, lambda: [w.close() for w in app.topLevelWidgets()])
raise SystemExit(gui_main.run_app(demo=False, self_check=False))
"""


def test_the_app_exits_although_a_keyring_call_never_returns(tmp_path):
    (tmp_path / "hung_keyring.py").write_text(HUNG_KEYRING, encoding="utf-8")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PLAN_RUNNER_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(tmp_path),
        "PYTHON_KEYRING_BACKEND": "hung_keyring.Hung",
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", CLOSE_SOON],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 15
    log = (tmp_path / "home" / "logs" / "plan-runner.log").read_text(encoding="utf-8")
    assert "A keyring call never returned; leaving without it" in log


def test_the_first_window_fits_a_small_screen(qtbot, monkeypatch, open_gui):
    small = QRect(0, 0, 800, 600)
    monkeypatch.setattr(
        "PySide6.QtGui.QScreen.availableGeometry", lambda _screen: small
    )
    window = open_gui().window
    window.window_state.remove("window/geometry")
    window._restore_window_state()
    assert window.width() <= 800
    assert window.height() <= 600
