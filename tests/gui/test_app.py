"""The app as a whole: self-check, demo mode, window state, the task helper."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from PySide6.QtCore import QSettings

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
