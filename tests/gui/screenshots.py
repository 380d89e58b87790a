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
SIZE = (960, 900)


def pause(ms: int) -> None:
    """Let the event loop run for ``ms`` milliseconds."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main_window() -> MainWindow:
    """Return the app's main window."""
    return next(
        widget
        for widget in QApplication.topLevelWidgets()
        if isinstance(widget, MainWindow)
    )


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


def drive() -> None:
    """Perform the runs and grab the window after each."""
    window = main_window()
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
    QTimer.singleShot(0, drive)
    return run_app(demo=True, self_check=False)


if __name__ == "__main__":
    sys.exit(main())
