"""Take the README's screenshots of the demo app (a script, not a test).

It starts ``plan-runner --demo`` in-process, queues plan 681, grabs the window,
makes the demo gateway answer like an expired token, runs again, grabs again,
and quits. Run it under Xvfb from the repository's root::

    LANG=C.UTF-8 XDG_RUNTIME_DIR=$(mktemp -d) \\
        xvfb-run -a -s "-screen 0 1280x900x24" .venv/bin/python tests/gui/screenshots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from app.gui.main import create_application, run_app
from app.gui.main_window import MainWindow

OUT = Path(__file__).resolve().parents[2] / "resources" / "screenshots"
SIZE = (1040, 900)


def pause(ms: int) -> None:
    """Let the event loop run for ``ms`` milliseconds."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def shown_main_window() -> MainWindow | None:
    """Return the app's main window once it is shown."""
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, MainWindow) and widget.isVisible():
            return widget
    return None


def run_once(window: MainWindow) -> None:
    """Press Run and wait for the outcome."""
    loop = QEventLoop()
    window.run_finished.connect(loop.quit)
    QTimer.singleShot(15000, loop.quit)
    window.run_button.click()
    loop.exec()
    window.run_finished.disconnect(loop.quit)
    pause(400)


def save(window: MainWindow, name: str) -> None:
    """Grab the window into ``resources/screenshots/<name>``."""
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / name
    if not window.grab().save(str(target)):
        raise SystemExit(f"could not save {target}")
    print(f"saved {target}")


def drive(window: MainWindow) -> None:
    """Perform the runs and grab the window after each."""
    window.resize(*SIZE)
    pause(600)
    window.plan_field.set_text("681")
    run_once(window)
    save(window, "main-queued.png")

    window.demo_combo.setCurrentIndex(window.demo_combo.findData("empty401"))
    run_once(window)
    save(window, "main-auth.png")
    window.close()


def main() -> int:
    """Open the demo app, drive it, return its exit code."""
    create_application()
    # Poll (rather than wait inside a callback) so that nothing blocks the start.
    poll = QTimer()
    poll.setInterval(50)

    def start_when_shown() -> None:
        window = shown_main_window()
        if window is not None:
            poll.stop()
            drive(window)

    poll.timeout.connect(start_when_shown)
    poll.start()
    return run_app(demo=True, self_check=False)


if __name__ == "__main__":
    sys.exit(main())
