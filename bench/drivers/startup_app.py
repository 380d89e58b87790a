"""Driver of bench_startup.py: Plan Runner started by its own ``run_app``.

It creates the QApplication first (``run_app`` takes over an existing one, as
it does under a test runner), watches every event for the main window's first
paint ("shown"), then waits for ``MainWindow.opened`` ("opened": the keyring,
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

from firstpaint import rss_mb  # noqa: E402
from PySide6.QtCore import QEvent, QObject, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.gui.main import run_app  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402

IMPORTED = time.monotonic()
OPEN_TIMEOUT_MS = 30_000


class Watcher(QObject):
    """Records the main window's first paint, then when it is opened."""

    def __init__(self, idle: float, marks: dict, memory: dict) -> None:
        super().__init__()
        self.idle = idle
        self.marks = marks
        self.memory = memory

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Paint
            and isinstance(watched, MainWindow)
            and "shown" not in self.marks
        ):
            self.marks["shown"] = time.monotonic()
            self.marks["exposed"] = watched.windowHandle().isExposed()
            self.memory["shown"] = rss_mb()
            watched.opened.connect(self.on_opened)
            # A window that never opens (it shows why) ends the run, unopened.
            QTimer.singleShot(OPEN_TIMEOUT_MS, QApplication.quit)
        return False

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
    watcher = Watcher(idle, marks, memory)
    app.installEventFilter(watcher)
    code = run_app(demo=False, self_check=False)
    marks["closed"] = time.monotonic()
    app.removeEventFilter(watcher)
    print(json.dumps(marks), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
