"""Driver of bench_startup.py: Plan Runner started by its own ``run_app``.

It creates the QApplication first (``run_app`` takes over an existing one, as
it does under a test runner), watches for the main window's first paint
("shown"), then waits for ``MainWindow.opened`` ("opened": the keyring,
the history and the settings are open and the window can run plans), and
quits. Everything in between is the app's own start-up, unchanged.

It prints one JSON line of monotonic times (comparable with the parent's).
Arguments: ``--idle S`` keeps the event loop running S seconds after the window
is opened, then reports the resident memory.
"""

import time

STARTED = time.monotonic()

import json  # noqa: E402
import sys  # noqa: E402

from firstpaint import FirstPaint, rss_mb  # noqa: E402
from PySide6.QtCore import QEvent, QObject, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.gui.main import run_app  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402

IMPORTED = time.monotonic()
OPEN_TIMEOUT_MS = 30_000


class Watcher(QObject):
    """Finds the main window, records its first paint, then when it is opened.

    It filters the application's events only until the main window receives
    its first one (while it is being built), then hands over to a
    :class:`FirstPaint` on the window alone, as the bare driver has: a Python
    filter on every event of the application would cost the app, and not the
    bare window, a call into Python per event.
    """

    def __init__(self, app: QApplication, idle: float, marks: dict, memory: dict):
        super().__init__()
        self.app = app
        self.idle = idle
        self.marks = marks
        self.memory = memory
        app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(watched, MainWindow):
            self.app.removeEventFilter(self)
            FirstPaint(watched, lambda: self.on_painted(watched))
        return False

    def on_painted(self, window: MainWindow) -> None:
        self.marks["shown"] = time.monotonic()
        self.marks["exposed"] = window.windowHandle().isExposed()
        self.memory["shown"] = rss_mb()
        window.opened.connect(self.on_opened)
        # A window that never opens (it shows why) ends the run, unopened.
        QTimer.singleShot(OPEN_TIMEOUT_MS, QApplication.quit)

    def on_opened(self) -> None:
        self.marks["opened"] = time.monotonic()
        self.memory["opened"] = rss_mb()
        if self.idle:
            QTimer.singleShot(round(self.idle * 1000), self.on_idle)
        else:
            QTimer.singleShot(0, QApplication.quit)

    def on_idle(self) -> None:
        self.marks["rss_mb"] = self.memory["idle"] = rss_mb()
        self.marks["memory"] = self.memory
        QApplication.quit()


def main() -> int:
    idle = float(sys.argv[sys.argv.index("--idle") + 1]) if "--idle" in sys.argv else 0
    marks: dict[str, object] = {"started": STARTED, "imported": IMPORTED}
    memory = {"imports": rss_mb()}
    app = QApplication(sys.argv[:1])
    marks["application"] = time.monotonic()
    watcher = Watcher(app, idle, marks, memory)
    code = run_app(demo=False, self_check=False)
    marks["closed"] = time.monotonic()
    app.removeEventFilter(watcher)
    print(json.dumps(marks), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
