"""Driver of bench_startup.py: a bare PySide6 QMainWindow, shown, then quit.

The baseline of the start-up bench: the least any PySide6 window costs. Like
startup_app.py it records the window's first paint, then quits. It prints one
JSON line of monotonic times (comparable with the parent's) and nothing else.
Arguments: ``--idle S`` keeps the event loop running S seconds after the window is
shown, then reports the resident memory.
"""

import time

STARTED = time.monotonic()

import json  # noqa: E402
import sys  # noqa: E402

from firstpaint import FirstPaint, rss_mb  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QMainWindow  # noqa: E402

IMPORTED = time.monotonic()


def main() -> int:
    idle = float(sys.argv[sys.argv.index("--idle") + 1]) if "--idle" in sys.argv else 0
    marks: dict[str, object] = {"started": STARTED, "imported": IMPORTED}
    memory = {"imports": rss_mb()}
    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    window.resize(940, 860)  # the app's default size: the same pixels to paint

    def on_zero_timer() -> None:
        marks["zero_timer"] = time.monotonic()

    def on_painted() -> None:
        marks["shown"] = time.monotonic()
        marks["exposed"] = window.windowHandle().isExposed()
        if idle:
            QTimer.singleShot(round(idle * 1000), on_idle)
        else:
            QTimer.singleShot(0, app.quit)

    def on_idle() -> None:
        marks["rss_mb"] = memory["idle"] = rss_mb()
        marks["memory"] = memory
        app.quit()

    FirstPaint(window, on_painted)
    window.show()
    QTimer.singleShot(0, on_zero_timer)
    app.exec()
    print(json.dumps(marks), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
