"""Driver of bench_startup.py: Plan Runner's main window, built as run_app does.

``app.gui.main.run_app`` has no hook that says "shown", and the app reads no
variable for one, so this driver repeats run_app's steps (application, paths,
logging, Qt message handler, crash reporter, task runner, build_gui, show, the
retention task) and records the window's first paint; a zero-timer then quits.
It also records when the zero-timer queued right after ``show()`` fired (before
the first paint, on the offscreen platform). Then it closes what it opened, as
run_app does. The keyring is opened by build_gui's own ``open_secrets``
(app.core.secrets.open_secret_store), only wrapped to time it.

It prints one JSON line of monotonic times (comparable with the parent's).
Arguments: ``--idle S`` keeps the event loop running S seconds after the window
is shown, then reports the resident memory.
"""

import time

STARTED = time.monotonic()

import json  # noqa: E402
import sys  # noqa: E402

from firstpaint import FirstPaint, rss_mb  # noqa: E402
from PySide6.QtCore import QTimer, qInstallMessageHandler  # noqa: E402

from app.core.logs import setup_logging  # noqa: E402
from app.core.paths import AppPaths  # noqa: E402
from app.core.redact import Redactor  # noqa: E402
from app.core.secrets import SecretStore, open_secret_store  # noqa: E402
from app.gui.main import (  # noqa: E402
    CrashReporter,
    build_gui,
    create_application,
    qt_message_handler,
)
from app.gui.tasks import TaskRunner  # noqa: E402

IMPORTED = time.monotonic()


def main() -> int:
    idle = float(sys.argv[sys.argv.index("--idle") + 1]) if "--idle" in sys.argv else 0
    marks: dict[str, object] = {"started": STARTED, "imported": IMPORTED}
    memory = {"imports": rss_mb()}

    app = create_application()
    marks["application"] = time.monotonic()
    redactor = Redactor()
    paths = AppPaths.from_environment()
    handlers = setup_logging(paths.log_file, redactor)
    previous_qt_handler = qInstallMessageHandler(qt_message_handler)
    previous_hook = sys.excepthook
    sys.excepthook = CrashReporter(paths.log_file)
    tasks = TaskRunner(app)

    def timed_open_secrets(redactor: Redactor) -> SecretStore:
        started = time.monotonic()
        try:
            store = open_secret_store(redactor)
        finally:
            marks["keyring_ms"] = (time.monotonic() - started) * 1000
        marks["keyring"] = store.backend_name
        return store

    gui = build_gui(paths, redactor, tasks, open_secrets=timed_open_secrets)
    marks["built"] = time.monotonic()
    memory["window built"] = rss_mb()

    def on_zero_timer() -> None:
        marks["zero_timer"] = time.monotonic()

    def on_painted() -> None:
        marks["shown"] = time.monotonic()
        marks["exposed"] = gui.window.windowHandle().isExposed()
        if idle:
            QTimer.singleShot(round(idle * 1000), on_idle)
        else:
            QTimer.singleShot(0, app.quit)

    def on_idle() -> None:
        marks["rss_mb"] = memory["idle"] = rss_mb()
        marks["memory"] = memory
        app.quit()

    FirstPaint(gui.window, on_painted)
    gui.window.show()
    tasks.submit("apply history retention", gui.window.runner.apply_retention)
    QTimer.singleShot(0, on_zero_timer)
    try:
        app.exec()
    finally:
        gui.close()
        tasks.shutdown(0)
        sys.excepthook = previous_hook
        qInstallMessageHandler(previous_qt_handler)
        for handler in handlers:
            handler.close()
    marks["closed"] = time.monotonic()
    print(json.dumps(marks), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
