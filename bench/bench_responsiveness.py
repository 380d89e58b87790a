"""The longest GUI-thread stall while runs are in flight, against the timer's jitter.

Run it with the project's interpreter::

    .venv/bin/python bench/bench_responsiveness.py [--slow-runs 3] [--runs 100]

In this process, offscreen: the gateway simulator on a thread (scenario "slow",
answering after 10 s), and the real main window, built by ``build_gui`` as
``run_app`` builds it, on a temporary ``PLAN_RUNNER_HOME`` with one profile whose
URL and token are in a session store. A 1 ms heartbeat timer on the GUI thread
records the gap between its ticks while:

1. Run is clicked and the 10 s answer awaited (``--slow-runs`` times);
2. the simulator turns "normal" and ``--runs`` runs go one after the other, each
   waiting for ``run_finished`` before the next click; ``--bursts`` such bursts
   (3 by default), each with its own heartbeat.

The baseline is the same heartbeat in a bare QMainWindow idling as long, in a
process of its own (heartbeat.py), once per slow run's length and once per
burst. ``--history-file`` starts the window on a copy of a big history (the
history view re-reads it after every run). ``--sample-stalls`` prints the GUI
thread's Python stacks seen during stalls.

Target: the longest stall at most 16 ms in both phases; for the consecutive
runs, the median of the bursts' longest stalls (the worst burst is shown too).

Both the app and the baseline run offscreen (``QT_QPA_PLATFORM=offscreen``),
whatever the shell sets. SIGINT or SIGTERM stops the bench at the next
heartbeat: its window, simulator and temporary folder are closed and removed.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import shutil
import subprocess
import time
from typing import Any

# The baseline runs offscreen: so does the app, whatever the shell says.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

from benchlib import (
    BENCH_DIR,
    PYTHON,
    Figure,
    Report,
    at_least,
    check_stopped,
    clean_environment,
    fresh_home,
    history_file,
    median,
    output_file,
    print_machine,
    run_main,
)
from heartbeat import Heartbeat, StallSampler
from PySide6.QtCore import QEventLoop, QTimer, qInstallMessageHandler

from app.core.logs import setup_logging
from app.core.outcome import Category
from app.core.paths import AppPaths
from app.core.redact import Redactor
from app.core.secrets import SessionStore
from app.core.settings import Profile
from app.core.workspace import Workspace
from app.gui.main import (
    build_gui,
    create_application,
    qt_message_handler,
    settle_startup_objects,
)
from app.gui.main_window import DEFAULT_SIZE
from app.gui.tasks import TaskRunner
from app.sim import Simulator

TOKEN = "demo-token"  # the simulator's public test token
PROFILE = "bench"
SLOW_SECONDS = 10.0

# The Qt event loops the bench is waiting in, innermost last. A signal handler
# that raised inside a Qt slot (the heartbeat's, most likely) would see its
# exception printed by PySide and dropped; it quits these loops instead, and
# the bench stops when they return (see stop_waiting).
waiting_in: list[QEventLoop] = []


def stop_waiting() -> bool:
    """On SIGINT or SIGTERM: quit the loops waited in; True when there were any."""
    for loop in waiting_in:
        loop.quit()
    return bool(waiting_in)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--slow-runs",
        type=at_least(0),
        default=3,
        help="runs waiting on a 10 s answer (0: none; default 3)",
    )
    parser.add_argument(
        "--runs",
        type=at_least(3),
        default=100,
        help="consecutive runs in a burst (at least 3; default 100)",
    )
    parser.add_argument(
        "--bursts",
        type=at_least(1),
        default=3,
        help="bursts of --runs consecutive runs (at least 1; default 3)",
    )
    parser.add_argument(
        "--history-file",
        type=history_file,
        help="start the window on a copy of this history (an SQLite file)",
    )
    parser.add_argument("--sample-stalls", action="store_true")
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="profile the GUI thread during the consecutive runs; print the top",
    )
    parser.add_argument("--json", type=output_file, help="write the figures here")
    args = parser.parse_args()
    print_machine()
    report = Report("responsiveness")
    app = create_application()

    with (
        fresh_home() as home,
        Simulator(
            tokens=(TOKEN,), scenario="slow", slow_seconds=SLOW_SECONDS
        ) as gateway,
    ):
        if args.history_file:
            (home / "data").mkdir(parents=True)
            shutil.copy(args.history_file, home / "data" / "history.sqlite3")
        paths = AppPaths.from_environment({"PLAN_RUNNER_HOME": str(home)})
        redactor = Redactor()
        handlers = setup_logging(paths.log_file, redactor)
        previous_qt_handler = qInstallMessageHandler(qt_message_handler)
        secrets = SessionStore(redactor, "bench: tokens in memory")
        workspace = Workspace.open(paths, redactor, secrets)
        workspace.save_profile(
            Profile(name=PROFILE, default_user=1, read_timeout=SLOW_SECONDS * 3),
            gateway_url=gateway.url,
            token=TOKEN,
        )
        tasks = TaskRunner(app)
        gui = build_gui(paths, redactor, tasks, secrets=secrets)
        window = gui.window
        # The offscreen screen is 800x800; the app fits its first window to the
        # screen. Measured at the size it opens with on a desktop screen.
        window.resize(DEFAULT_SIZE)
        try:
            wait_for_signal(window.connections_loaded, 10, window.show)
            settle_startup_objects()  # as run_app does once the window is open
            window.fill_form(PROFILE, 681, 1)
            settle(300)

            heartbeat = Heartbeat()
            sampler = StallSampler(heartbeat) if args.sample_stalls else None
            if sampler:
                sampler.start()

            slow = []
            for n in range(args.slow_runs):
                heartbeat.start()
                started = time.perf_counter()
                result = run_once(window, SLOW_SECONDS + 20)
                seconds = time.perf_counter() - started
                stats = heartbeat.stop()
                check(result)
                slow.append({**stats, "seconds": seconds})
                print(
                    f"slow run {n + 1}: answered in {seconds:.1f} s; heartbeat "
                    f"{stats['ticks']} ticks, longest {stats['max_ms']:.1f} ms, "
                    f"p99 {stats['p99_ms']:.2f} ms; worst gaps (ms, ended at s): "
                    f"{stats['worst']}"
                )

            gateway.set_scenario("normal")
            settle(200)
            profiler = cProfile.Profile() if args.cprofile else None
            bursts = []
            latencies = []
            for n in range(args.bursts):
                if profiler:
                    profiler.enable()
                heartbeat.start()
                started = time.perf_counter()
                for _ in range(args.runs):
                    run_started = time.perf_counter()
                    check(run_once(window, 30))
                    latencies.append((time.perf_counter() - run_started) * 1000)
                seconds = time.perf_counter() - started
                stats = heartbeat.stop()
                if profiler:
                    profiler.disable()
                bursts.append({**stats, "seconds": seconds})
                print(
                    f"burst {n + 1}: {args.runs} runs in {seconds:.1f} s; heartbeat "
                    f"{stats['ticks']} ticks, longest {stats['max_ms']:.1f} ms, p99 "
                    f"{stats['p99_ms']:.2f} ms, {stats['over_16ms']} gaps over 16 ms"
                )
                settle(200)
            print(
                f"median {median(latencies):.1f} ms from click to result over "
                f"{len(latencies)} runs"
            )
            if profiler:
                print("\nGUI thread during the consecutive runs (cProfile):")
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            if sampler:
                sampler.stop()
                print("\nGUI-thread stacks seen while the heartbeat was late:")
                for stack, count in sampler.stacks.most_common(12):
                    print(f"  {count:5d}  {stack}")
        finally:
            gui.close()
            tasks.shutdown(3000)
            qInstallMessageHandler(previous_qt_handler)
            root = logging.getLogger()
            for handler in handlers:
                root.removeHandler(handler)
                handler.close()

    print()
    if slow:
        slow_seconds = median([s["seconds"] for s in slow])
        bare_slow = bare_heartbeat(slow_seconds)
        print(
            f"baseline, bare QMainWindow idling {slow_seconds:.1f} s: longest "
            f"{bare_slow['max_ms']:.1f} ms, p99 {bare_slow['p99_ms']:.2f} ms"
        )
    bare_bursts = []
    for burst in bursts:
        bare = bare_heartbeat(burst["seconds"])
        bare_bursts.append(bare)
        print(
            f"baseline, bare QMainWindow idling {burst['seconds']:.1f} s: longest "
            f"{bare['max_ms']:.1f} ms, p99 {bare['p99_ms']:.2f} ms"
        )

    history = f", history {args.history_file.name}" if args.history_file else ""
    if slow:
        report.add(
            Figure(
                f"longest GUI stall, run waiting on a 10 s answer{history}",
                max(s["max_ms"] for s in slow),
                "ms",
                baseline=bare_slow["max_ms"],
                limit=16,
                note=(
                    f"worst of {args.slow_runs} slow runs (median of their "
                    f"longest: {median([s['max_ms'] for s in slow]):.1f} ms); "
                    "1 ms heartbeat"
                ),
            )
        )
        report.add(
            Figure(
                "  p99 gap, same",
                median([s["p99_ms"] for s in slow]),
                "ms",
                baseline=bare_slow["p99_ms"],
            )
        )
    longest = [b["max_ms"] for b in bursts]
    bare_longest = [b["max_ms"] for b in bare_bursts]
    report.add(
        Figure(
            f"longest GUI stall over {args.runs} consecutive runs{history}",
            median(longest),
            "ms",
            baseline=median(bare_longest),
            limit=16,
            note=(
                f"median of {args.bursts} bursts' longest "
                f"({', '.join(f'{v:.1f}' for v in longest)} ms); 1 ms heartbeat"
            ),
        )
    )
    report.add(
        Figure(
            "  worst burst, same",
            max(longest),
            "ms",
            baseline=max(bare_longest),
        )
    )
    report.add(
        Figure(
            "  p99 gap, same",
            median([b["p99_ms"] for b in bursts]),
            "ms",
            baseline=median([b["p99_ms"] for b in bare_bursts]),
        )
    )
    report.add(
        Figure("  click to result, normal answer (median)", median(latencies), "ms")
    )
    print()
    report.print_table()
    report.write(args.json)
    return 0 if all(f.met is not False for f in report.figures) else 1


def run_once(window: Any, timeout_s: float) -> Any:
    """Click Run; return the RunResult of ``run_finished``."""
    return wait_for_signal(window.run_finished, timeout_s, window.run_button.click)[0]


def wait_for_signal(signal: Any, timeout_s: float, action: Any) -> tuple[Any, ...]:
    """Do ``action``, then spin the event loop until ``signal`` fires."""
    received: list[tuple[Any, ...]] = []
    loop = QEventLoop()

    def on_signal(*values: Any) -> None:
        received.append(values)
        loop.quit()

    signal.connect(on_signal)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(round(timeout_s * 1000))
    waiting_in.append(loop)
    try:
        action()
        # A signal before exec() quit a loop not yet running, which Qt ignores.
        check_stopped()
        if not received:
            loop.exec()
    finally:
        waiting_in.remove(loop)
        timer.stop()
        signal.disconnect(on_signal)
    check_stopped()
    if not received:
        raise TimeoutError(f"no signal within {timeout_s:g} s")
    return received[0]


def settle(ms: int) -> None:
    """Let the event loop run for ``ms`` (layouts, first paints, timers)."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    waiting_in.append(loop)
    try:
        check_stopped()  # as in wait_for_signal
        loop.exec()
    finally:
        waiting_in.remove(loop)
    check_stopped()


def check(result: Any) -> None:
    if result.outcome.category is not Category.QUEUED:
        raise RuntimeError(f"the run was not queued: {result.outcome.title}")


def bare_heartbeat(seconds: float) -> dict[str, float]:
    """Run heartbeat.py's bare window for ``seconds``; return its summary."""
    done = subprocess.run(
        [PYTHON, str(BENCH_DIR / "heartbeat.py"), "--seconds", f"{seconds:.2f}"],
        env=clean_environment(QT_QPA_PLATFORM="offscreen"),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    run_main(main, defer=stop_waiting)
