"""Run every bench and print one table: target, measured, baseline, ratio, met?

Run it with the project's interpreter::

    .venv/bin/python bench/run_all.py [--history-rows 1000000] [--markdown FILE]

Each bench runs as its own process and prints its own details as it goes; this
script collects their figures and prints the summary last. The history bench
(bench_history.py) runs with ``--rows`` (200,000 by default, to keep the whole
run near two and a half minutes; pass ``--history-rows 1000000`` for the target's size).
Its history file is then reused: the start-up, command-line and responsiveness
benches each add a line for the app on that history. ``--markdown`` writes the
summary and the machine as a Markdown table (for bench/README.md).

A bench that fails (exit code 3, or no figures written) is reported as failed
in the summary; the other benches' figures are still printed and written.
SIGINT or SIGTERM is passed on to the bench running, which cleans up before
this script exits.

Exit code: 0 when every target is met, 1 when one is missed, 2 for bad
arguments, 3 when a bench failed, 130 / 143 when stopped by SIGINT / SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import benchlib
from benchlib import (
    BENCH_DIR,
    EXIT_FAILED,
    PYTHON,
    REPO,
    Figure,
    Report,
    at_least,
    clean_environment,
    machine,
    number,
    output_file,
    print_figures,
    read_figures,
    run_main,
)

DEB_LIMIT_MB = 60
BENCH_TIMEOUT_S = 1800
CLEANUP_WAIT_S = 60  # how long a stopped bench may take to clean up


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--history-rows",
        type=at_least(1),
        default=200_000,
        help="runs in the history bench's file (at least 1; default 200,000)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer runs of each (a smoke test)"
    )
    parser.add_argument(
        "--no-big-history",
        action="store_true",
        help="skip the app's lines on the history bench's file",
    )
    parser.add_argument("--markdown", type=output_file, help="write the summary here")
    args = parser.parse_args()
    started = time.monotonic()
    reports: list[Report] = []
    failures: list[str] = []

    with tempfile.TemporaryDirectory(prefix="plan-runner-run-all-") as folder:
        out = Path(folder)
        history_file = out / f"history-{args.history_rows}.sqlite3"
        reports.append(
            run_bench(
                "bench_history.py",
                out,
                *("--rows", str(args.history_rows), "--file", str(history_file)),
                failures=failures,
            )
        )
        # Without the history bench's file (it failed), no lines on it.
        big = (
            []
            if args.no_big_history or not history_file.exists()
            else ["--history-file", str(history_file)]
        )
        quick = args.quick
        reports.append(
            run_bench(
                "bench_startup.py",
                out,
                *(["--runs", "7", "--idle-runs", "2"] if quick else []),
                *big,
                failures=failures,
            )
        )
        reports.append(
            run_bench(
                "bench_cli.py",
                out,
                *(["--runs", "10"] if quick else []),
                *big,
                failures=failures,
            )
        )
        reports.append(
            run_bench(
                "bench_responsiveness.py",
                out,
                *(["--slow-runs", "1"] if quick else []),
                failures=failures,
            )
        )
        if big:
            history_report = run_bench(
                "bench_responsiveness.py",
                out,
                "--slow-runs",
                "0",
                *big,
                name="bench_responsiveness_history",
                failures=failures,
            )
            for figure in history_report.figures:
                figure.limit = figure.max_ratio = None  # the targets are set above
            reports.append(history_report)
    reports.append(measure_deb())

    figures = [figure for report in reports for figure in report.figures]
    info = machine()
    print("\n" + "=" * 100)
    print(
        f"Summary ({info['date']}; {info['nproc']} CPUs, {info['cpu']}, {info['ram']}"
        f" RAM, Python {info['python']}, PySide6 {info['pyside6']}; load average "
        f"{info['load']}; {time.monotonic() - started:.0f} s in all; "
        f"{info['code']})"
    )
    print_figures(figures)
    for report in reports:
        for note in report.notes:
            print(f"  note ({report.bench}): {note}")
    for failure in failures:
        print(f"  FAILED: {failure}")
    if args.markdown:
        args.markdown.write_text(
            markdown(figures, reports, failures, info), encoding="utf-8"
        )
        print(f"\nMarkdown summary written to {args.markdown}")
    if failures:
        return EXIT_FAILED
    return 0 if all(figure.met is not False for figure in figures) else 1


def run_bench(
    script: str, out: Path, *extra: str, name: str = "", failures: list[str]
) -> Report:
    """Run one bench, its output shown as it goes; return its figures.

    A bench that fails (an exit code other than 0 or 1, or no figures written)
    is added to ``failures``; its figures, if any, are returned all the same.
    A signal that stops this script is passed on to the bench, whose cleanup
    is then waited for (``subprocess.run`` would kill it at once).
    """
    name = name or script.removesuffix(".py")
    target = out / f"{name}.json"
    print(f"\n{'=' * 100}\n{script} {' '.join(extra)}\n", flush=True)
    bench = subprocess.Popen(
        [PYTHON, str(BENCH_DIR / script), "--json", str(target), *extra],
        env=clean_environment(QT_QPA_PLATFORM="offscreen"),
    )
    try:
        code = bench.wait(timeout=BENCH_TIMEOUT_S)
    except BaseException:  # a signal (SystemExit, see benchlib) or the timeout
        bench.send_signal(benchlib.received_signal or signal.SIGTERM)
        try:
            bench.wait(timeout=CLEANUP_WAIT_S)
        except subprocess.TimeoutExpired:
            bench.kill()
            bench.wait()
        raise
    report = read_figures(target) if target.exists() else Report(name)
    if code not in (0, 1) or not target.exists():
        written = "" if target.exists() else ", no figures written"
        failures.append(f"{script} {' '.join(extra)}: exit code {code}{written}")
    return report


def measure_deb() -> Report:
    """Measure the .deb in dist/, if packaging/build-deb.sh has written one."""
    report = Report("deb")
    debs = sorted((REPO / "dist").glob("*.deb"))
    print(f"\n{'=' * 100}\n.deb size\n")
    if not debs:
        print("  no dist/*.deb: packaging/build-deb.sh has not been run here")
        report.notes.append("no dist/*.deb to measure (packaging/build-deb.sh)")
        return report
    for deb in debs:
        size = deb.stat().st_size
        built = datetime.fromtimestamp(deb.stat().st_mtime, UTC)
        print(
            f"  {deb.name}: {size / 1e6:.1f} MB ({size / 2**20:.1f} MiB), "
            f"built {built:%Y-%m-%d %H:%M} UTC"
        )
        report.add(
            Figure(
                f".deb ({deb.name})",
                size / 1e6,
                "MB",
                limit=DEB_LIMIT_MB,
                note=f"built {built:%Y-%m-%d %H:%M} UTC",
            )
        )
    return report


def markdown(
    figures: list[Figure], reports: list[Report], failures: list[str], info: dict
) -> str:
    lines = [
        f"Measured {info['date']} on {info['nproc']} CPUs ({info['cpu']}), "
        f"{info['ram']} RAM, Python {info['python']}, PySide6 {info['pyside6']}, "
        f"{info['os']}; load average at the end {info['load']}; {info['code']}.",
        "",
        "| what | target | measured | baseline | ratio | met? | how |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        base = "" if f.baseline is None else f"{number(f.baseline)} {f.unit}"
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}"
        met = {None: "info", True: "yes", False: "**no**"}[f.met]
        name = f.name.strip()
        name = f"↳ {name}" if f.name.startswith(" ") else name
        lines.append(
            f"| {name} | {f.target} | {number(f.measured)} {f.unit} | {base} | "
            f"{ratio} | {met} | {f.note} |"
        )
    notes = [f"- {r.bench}: {note}" for r in reports for note in r.notes]
    failed = [f"- **failed**: {failure}" for failure in failures]
    return "\n".join([*lines, "", *failed, *notes, ""])


if __name__ == "__main__":
    run_main(main)
