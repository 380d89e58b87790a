"""A quit signal (logout, ``kill``, Ctrl+C) closes the app as its close button does."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.history import HistoryFilter, HistoryStore
from app.core.outcome import Category
from app.gui.main import quit_on_signal
from app.gui.quit_signals import QuitOnSignals
from app.gui.settings_dialog import SettingsDialog

PROFILE = "Stage"


def run_that_hangs(qtbot, gateway, add_profile, open_gui):
    """Open the window and press Run against a gateway that never answers."""
    add_profile(PROFILE, gateway.url, read_timeout=60, default_user=1)
    gateway.set_scenario("hang")
    window = open_gui().window
    window.plan_field.set_text("681")
    window.run_button.click()
    qtbot.waitUntil(lambda: len(gateway.queue_posts) == 1, timeout=5000)
    return window


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_quit_signal_mid_run_cancels_it_records_it_and_leaves(
    qtbot, gateway, add_profile, open_gui, paths, number
):
    window = run_that_hangs(qtbot, gateway, add_profile, open_gui)

    previous = signal.getsignal(number)
    left: list[int] = []
    quitter = QuitOnSignals(functools.partial(quit_on_signal, left.append))
    try:
        os.kill(os.getpid(), number)
        qtbot.waitUntil(lambda: left == [128 + number], timeout=3000)
    finally:
        quitter.close()

    assert signal.getsignal(number) is previous
    assert window.isHidden()
    with HistoryStore.open(paths.history_file) as history:
        rows = history.page(HistoryFilter(), limit=5)
    assert [row.outcome for row in rows] == [Category.UNKNOWN]
    assert "cancelled" in rows[0].title


def test_a_quit_signal_drops_unsaved_settings_without_asking_and_records_the_run(
    qtbot, gateway, add_profile, open_gui, paths, monkeypatch
):
    window = run_that_hangs(qtbot, gateway, add_profile, open_gui)
    asked: list[str] = []

    def question(_parent, title, *_args, **_kwargs):
        asked.append(title)
        return QMessageBox.StandardButton.Cancel  # nobody there to answer

    monkeypatch.setattr(QMessageBox, "question", question)

    def change_then_quit():
        dialog = next(
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, SettingsDialog) and w.isVisible()
        )
        dialog.timeout_spin.setValue(dialog.timeout_spin.value() + 5)
        os.kill(os.getpid(), signal.SIGTERM)
        QTimer.singleShot(3000, dialog.hide)  # so a dialog that waits ends the test

    left: list[int] = []
    quitter = QuitOnSignals(functools.partial(quit_on_signal, left.append))
    try:
        QTimer.singleShot(100, change_then_quit)
        window.open_settings()  # returns once the dialog is closed
        qtbot.waitUntil(lambda: left == [128 + signal.SIGTERM], timeout=3000)
    finally:
        quitter.close()

    assert asked == []
    assert window.isHidden()
    with HistoryStore.open(paths.history_file) as history:
        rows = history.page(HistoryFilter(), limit=5)
    assert [row.outcome for row in rows] == [Category.UNKNOWN]
    assert window.workspace.profile(PROFILE).read_timeout == 60


def test_a_signal_it_does_not_watch_is_left_alone(qtbot):
    left: list[int] = []
    quitter = QuitOnSignals(left.append, signals=(signal.SIGUSR1,))
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        qtbot.waitUntil(lambda: left == [signal.SIGUSR1], timeout=2000)
        # Another signal's wake-up byte reaches the socket too; it is not a quit.
        previous = signal.signal(signal.SIGUSR2, lambda *_: None)
        try:
            os.kill(os.getpid(), signal.SIGUSR2)
            qtbot.wait(200)
        finally:
            signal.signal(signal.SIGUSR2, previous)
        assert left == [signal.SIGUSR1]
    finally:
        quitter.close()


def test_the_app_leaves_with_143_on_sigterm(tmp_path):
    home = tmp_path / "home"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PLAN_RUNNER_HOME": str(home),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; raise SystemExit(main())"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log_file = home / "logs" / "plan-runner.log"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if log_file.exists() and "kept for this session" in log_file.read_text(
                encoding="utf-8"
            ):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the app did not open its window within 30 s")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert time.monotonic() - started < 5
    log = log_file.read_text(encoding="utf-8")
    assert "Quitting on SIGTERM" in log
    assert "Window closed" in log


def _catches(pid: int, number: int) -> bool:
    """Whether process ``pid`` has a handler for signal ``number`` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (number - 1) & 1)
    return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("later", [0.0, 0.1, 0.25])
def test_a_quit_signal_while_the_demo_starts_ends_it_quietly(tmp_path, number, later):
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "TMPDIR": str(tmp_path),
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from app.cli import main; raise SystemExit(main())",
            "--demo",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # From its first handler on (while Qt is still being imported), the
        # program owns the quit signals: sent then, they must end it cleanly.
        # (Python itself catches SIGINT from the start; SIGTERM marks ours.)
        deadline = time.monotonic() + 20
        while not _catches(process.pid, signal.SIGTERM) and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(later)
        process.send_signal(number)
        _, stderr = process.communicate(timeout=15)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == 128 + number, stderr
    assert "Traceback" not in stderr
    assert "Fatal Python error" not in stderr
    assert not list(tmp_path.glob("plan-runner-demo-*"))
