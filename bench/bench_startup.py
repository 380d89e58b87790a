"""Time from process start to Plan Runner's main window shown, and its idle memory.

Run it with the project's interpreter::

    .venv/bin/python bench/bench_startup.py [--runs 9] [--history-file FILE]

Every process runs with ``QT_QPA_PLATFORM=offscreen`` and its own temporary
``PLAN_RUNNER_HOME``. ``drivers/startup_app.py`` calls the app's own
``app.gui.main.run_app`` and watches its events; ``drivers/startup_bare.py``
shows a bare QMainWindow (the baseline). The two alternate, ``--runs`` times each.

"Shown" is the first paint event of the main window, timed from just before the
process is spawned (monotonic clock, shared by the processes). The app shows its
window before it opens the keyring, the history and the settings; "opened" is
when those are open and the window can run plans (``MainWindow.opened``). The
whole-process time runs to the exit, the app's after "opened". Memory is VmRSS
read from inside, ``--idle`` s after the window was shown (the app: opened).

Targets: shown within 1.3x the bare window; idle RSS at most 120 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import (
    DRIVERS,
    PYTHON,
    REPO,
    Figure,
    Report,
    at_least,
    by_package,
    clean_environment,
    fresh_home,
    history_file,
    importtime_runs,
    median,
    median_imports,
    output_file,
    print_machine,
    run_main,
    seconds,
    spread,
)

# The tests' D-Bus that completes the handshake and then never answers.
sys.path.insert(0, str(REPO / "tests"))
from silent_bus import SilentBus

APP = str(DRIVERS / "startup_app.py")
BARE = str(DRIVERS / "startup_bare.py")

# A private session bus as dbus-run-session's own, but listening in the bench's
# temporary folder: a bench stopped half-way leaves no socket in /tmp.
SESSION_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:dir={folder}</listen>
  <auth>EXTERNAL</auth>
  <standard_session_servicedirs/>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs",
        type=at_least(3),
        default=9,
        help="runs of each (at least 3; default 9, 7 or more for figures to keep)",
    )
    parser.add_argument(
        "--idle", type=seconds, default=2.0, help="seconds idle (more than 0)"
    )
    parser.add_argument(
        "--idle-runs",
        type=at_least(1),
        default=3,
        help="idle-memory runs of each (at least 1; default 3)",
    )
    parser.add_argument(
        "--history-file",
        type=history_file,
        help="also start the app on a copy of this history (e.g. 1,000,000 runs)",
    )
    parser.add_argument(
        "--no-dbus-stall",
        action="store_true",
        help="skip the run against a D-Bus that accepts but never answers",
    )
    parser.add_argument(
        "--importtime-runs",
        type=at_least(0),
        default=3,
        help="runs under -X importtime for the import breakdown (0: skip)",
    )
    parser.add_argument("--json", type=output_file, help="write the figures here")
    args = parser.parse_args()
    print_machine()
    report = Report("startup")

    with fresh_home() as used, fresh_home() as scratch:
        # The main figure: a home the app has opened once before (the usual case).
        spawn(APP, home=used)
        spawn(BARE, home=used)
        bare, app, first = [], [], []
        for _ in range(args.runs):
            bare.append(spawn(BARE, home=used))
            app.append(spawn(APP, home=used))
            new_home = scratch / f"home-{len(first)}"
            first.append(spawn(APP, home=new_home))
            shutil.rmtree(new_home, ignore_errors=True)

        print(f"\nstart to window shown, median of {args.runs} runs each (ms):")
        show_runs("bare QMainWindow", bare)
        show_runs("Plan Runner (home used before)", app)
        show_runs("Plan Runner (new home each run)", first)
        phases(app)

        report.add(
            Figure(
                "start to window shown (offscreen)",
                median([r["shown_ms"] for r in app]),
                "ms",
                baseline=median([r["shown_ms"] for r in bare]),
                max_ratio=1.3,
                note=f"median of {args.runs}, alternating with the bare window",
            )
        )
        report.add(
            Figure(
                "  whole process (start to exit)",
                median([r["process_ms"] for r in app]),
                "ms",
                baseline=median([r["process_ms"] for r in bare]),
            )
        )
        report.add(
            Figure(
                "  start to shown, first start (new home)",
                median([r["shown_ms"] for r in first]),
                "ms",
                baseline=median([r["shown_ms"] for r in bare]),
            )
        )
        report.add(
            Figure(
                "  start to window opened (can run plans)",
                median([r["opened_ms"] for r in app]),
                "ms",
                baseline=median([r["shown_ms"] for r in bare]),
            )
        )

        if args.history_file:
            big = scratch / "big"
            (big / "data").mkdir(parents=True)
            shutil.copy(args.history_file, big / "data" / "history.sqlite3")
            spawn(APP, home=big)
            runs = [spawn(APP, home=big) for _ in range(max(3, args.runs // 3))]
            show_runs(f"Plan Runner ({args.history_file.name})", runs)
            report.add(
                Figure(
                    f"  start to shown, history {args.history_file.name}",
                    median([r["shown_ms"] for r in runs]),
                    "ms",
                    baseline=median([r["shown_ms"] for r in bare]),
                    note=f"median of {len(runs)}",
                )
            )

        if not args.no_dbus_stall:
            with SilentBus(scratch / "bus.sock") as address:
                runs = [
                    spawn(APP, home=used, DBUS_SESSION_BUS_ADDRESS=address)
                    for _ in range(3)
                ]
            show_runs("Plan Runner, D-Bus that never answers", runs)
            report.add(
                Figure(
                    "  start to shown, D-Bus that never answers",
                    median([r["shown_ms"] for r in runs]),
                    "ms",
                    baseline=median([r["shown_ms"] for r in bare]),
                    note="median of 3",
                )
            )
            report.add(
                Figure(
                    "  start to opened, D-Bus that never answers",
                    median([r["opened_ms"] for r in runs]),
                    "ms",
                    note="the keyring's own timeout, or 10 s at most",
                )
            )

        print(f"\nidle memory after {args.idle:g} s, median of {args.idle_runs}:")
        bare_runs = [
            spawn(BARE, home=used, idle=args.idle) for _ in range(args.idle_runs)
        ]
        app_runs = [
            spawn(APP, home=used, idle=args.idle) for _ in range(args.idle_runs)
        ]
        bare_rss = [r["rss_mb"] for r in bare_runs]
        app_rss = [r["rss_mb"] for r in app_runs]
        for label, runs in (("bare QMainWindow", bare_runs), ("Plan Runner", app_runs)):
            steps = ", ".join(
                f"{step} {median([r['memory'][step] for r in runs]):.1f} MB"
                for step in runs[0]["memory"]
            )
            print(f"  {label:<18}{steps}")
        report.add(
            Figure(
                "idle RSS of the app",
                median(app_rss),
                "MB",
                baseline=median(bare_rss),
                limit=120,
                note=f"VmRSS after {args.idle:g} s idle, median of {args.idle_runs}",
            )
        )
        keyring_runs = with_secret_service(
            APP, scratch, idle=args.idle, runs=args.idle_runs
        )
        if keyring_runs:
            rss = median([r["rss_mb"] for r in keyring_runs])
            print(f"  Plan Runner, GNOME Keyring in the session: idle {rss:.1f} MB")
            report.add(
                Figure(
                    "idle RSS of the app, GNOME Keyring in the session",
                    rss,
                    "MB",
                    baseline=median(bare_rss),
                    limit=120,
                    note="as on a desktop: the Secret Service backend loaded",
                )
            )

    if args.importtime_runs:
        import_costs(args.importtime_runs, report)

    print()
    report.print_table()
    report.write(args.json)
    return 0 if all(f.met is not False for f in report.figures) else 1


def spawn(
    driver: str, *, home: Path, idle: float = 0, **extra_env: str
) -> dict[str, Any]:
    """Run a driver to its end; return its marks relative to the spawn, in ms."""
    env = clean_environment(
        QT_QPA_PLATFORM="offscreen", PLAN_RUNNER_HOME=str(home), **extra_env
    )
    command = [PYTHON, driver] + (["--idle", str(idle)] if idle else [])
    started = time.monotonic()
    done = subprocess.run(  # noqa: PLW1510 - checked below, with the output shown
        command, env=env, capture_output=True, text=True, timeout=120
    )
    ended = time.monotonic()
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"{driver} exited {done.returncode}:\n{done.stderr}")
    marks = json.loads(done.stdout.strip().splitlines()[-1])
    if driver == APP and "opened" not in marks:
        log = home / "logs" / "plan-runner.log"
        raise RuntimeError(f"the window never opened; see {log}")
    result: dict[str, Any] = {
        f"{name}_ms": (value - started) * 1000
        for name, value in marks.items()
        if isinstance(value, float) and name != "rss_mb"
    }
    result["process_ms"] = (ended - started) * 1000
    if "rss_mb" in marks:
        result["rss_mb"] = marks["rss_mb"]
        result["memory"] = marks["memory"]
    if not marks.get("exposed"):
        print(f"  warning: {Path(driver).name}: window not exposed when painted")
    return result


def with_secret_service(
    driver: str, scratch: Path, *, idle: float, runs: int
) -> list[dict[str, Any]]:
    """Run a driver ``runs`` times in a private D-Bus session with GNOME Keyring.

    That is what a Linux desktop has, and what the app then loads: the Secret
    Service backend and the cryptography it uses. Returns nothing when
    ``dbus-run-session`` or ``gnome-keyring-daemon`` is missing.
    """
    if not (shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")):
        print("  (no dbus-run-session or gnome-keyring-daemon: GNOME Keyring skipped)")
        return []
    keyring_home = scratch / "keyring-home"
    keyring_home.mkdir(exist_ok=True)
    homes = [scratch / f"keyring-run-{number}" for number in range(runs)]
    for home in homes:
        home.mkdir(exist_ok=True)
    bus_folder = scratch / "bus"
    bus_folder.mkdir(exist_ok=True)
    bus_config = scratch / "session-bus.conf"
    bus_config.write_text(SESSION_BUS_CONFIG.format(folder=bus_folder))
    script = "printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null"
    for home in homes:
        script += f'; PLAN_RUNNER_HOME="{home}" "{PYTHON}" "{driver}" --idle {idle}'
    env = clean_environment(QT_QPA_PLATFORM="offscreen", HOME=str(keyring_home))
    # A process group of its own: if the bench is stopped (or the runs time out),
    # the bus, the keyring daemon and the driver all get SIGTERM, not only
    # dbus-run-session (which, killed alone, would leave the bus running).
    session = subprocess.Popen(
        ["dbus-run-session", f"--config-file={bus_config}", "--", "sh", "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = session.communicate(timeout=120)
    except BaseException:
        os.killpg(session.pid, signal.SIGTERM)
        session.wait()
        raise
    found = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    if session.returncode != 0 or len(found) != runs:
        raise RuntimeError(f"the runs with GNOME Keyring failed:\n{stderr}")
    for home in homes:
        log = (home / "logs" / "plan-runner.log").read_text(encoding="utf-8")
        if "for this session only" in log:
            raise RuntimeError(f"the app did not use GNOME Keyring; see {home}")
    return found


def show_runs(label: str, runs: list[dict[str, Any]]) -> None:
    shown = [r["shown_ms"] for r in runs]
    whole = [r["process_ms"] for r in runs]
    opened = [r["opened_ms"] for r in runs if "opened_ms" in r]
    print(
        f"  {label:<42} shown {median(shown):7.1f} ({spread(shown)})"
        + (f"   opened {median(opened):7.1f} ({spread(opened)})" if opened else "")
        + f"   whole process {median(whole):7.1f} ({spread(whole)})"
    )


def phases(runs: list[dict[str, Any]]) -> None:
    """Print where the app's time to shown goes (medians, ms)."""
    steps = [
        ("interpreter start", None, "started_ms"),
        (
            "imports (app.gui.main and what it needs to show)",
            "started_ms",
            "imported_ms",
        ),
        ("QApplication()", "imported_ms", "application_ms"),
        ("run_app() to the first paint", "application_ms", "shown_ms"),
        ("first paint to opened: keyring, history, settings", "shown_ms", "opened_ms"),
    ]
    print("  where the app's time goes (medians):")
    for label, start, end in steps:
        values = [r[end] - (r[start] if start else 0) for r in runs]
        print(f"    {label:<52}{median(values):7.1f} ms")


def import_costs(runs: int, report: Report) -> None:
    """Print what the app imports beyond the bare window, by package."""
    with fresh_home() as home:
        env = clean_environment(QT_QPA_PLATFORM="offscreen", PLAN_RUNNER_HOME=str(home))
        bare = median_imports(importtime_runs([PYTHON, BARE], env, runs))
        app = median_imports(importtime_runs([PYTHON, APP], env, runs))
    extra = {name: item for name, item in app.items() if name not in bare}
    total = sum(item.self_ms for item in extra.values())
    print(
        f"\nimports the app adds to the bare window: {len(extra)} modules, "
        f"{total:.0f} ms of self time (median of {runs} runs under -X importtime, "
        "which inflates times a little; up to the window opened, most of them "
        "on the task helper after the first paint):"
    )
    for package, ms, count in by_package(extra)[:20]:
        print(f"  {package:<36}{ms:7.1f} ms  ({count} modules)")
    report.notes.append(
        f"the app imports {len(extra)} modules more than the bare window "
        f"({total:.0f} ms self time under -X importtime)"
    )


if __name__ == "__main__":
    run_main(main)
