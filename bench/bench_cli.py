"""Time ``plan-runner run`` against the simulator, against a bare httpx POST.

Run it with the project's interpreter::

    .venv/bin/python bench/bench_cli.py [--runs 15] [--history-file FILE]

The gateway simulator runs on a thread of this process. Then, ``--runs`` times
and alternating, two whole processes are timed from spawn to exit:

- the baseline, ``python -c "import httpx; httpx.post(URL/queue, ...)"``;
- ``plan-runner run --gateway URL --plan 681 --user 1`` with
  ``PLAN_RUNNER_TOKEN`` set and a temporary ``PLAN_RUNNER_HOME`` (it opens and
  writes the history: that is part of the cost).

For information it also times the command in a new home each run, on a copy of
``--history-file`` when given, and with ``--profile`` through a file-backed
stand-in keyring (drivers/bench_keyring.py; the real Secret Service costs more).
Last, it lists the imports the command adds to the baseline's, from
``-X importtime``.

Both figures depend on the environment: when ``click`` and ``rich`` are
installed, ``import httpx`` also imports httpx's command line
(``httpx._main``), about 40 ms for the baseline and the app alike. The bench
says whether it did here.

Target: the command at most 1.5x the baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

from benchlib import (
    DRIVERS,
    PLAN_RUNNER,
    PYTHON,
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
    spread,
    timed_run,
)

from app.sim import Simulator

TOKEN = "demo-token"  # the simulator's public test token
BASELINE = (
    "import httpx; httpx.post({url!r} + '/queue', json={{'planId': 681, "
    "'userId': 1}}, headers={{'Authorization': 'Bearer demo-token'}})"
)
PROFILE = "bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs",
        type=at_least(3),
        default=15,
        help="runs of each (at least 3; default 15, 10 or more for figures to keep)",
    )
    parser.add_argument(
        "--history-file",
        type=history_file,
        help="also run on a copy of this history (e.g. 1,000,000 runs)",
    )
    parser.add_argument(
        "--importtime-runs",
        type=at_least(0),
        default=5,
        help="runs under -X importtime for the import list (0: skip)",
    )
    parser.add_argument("--json", type=output_file, help="write the figures here")
    args = parser.parse_args()
    print_machine()
    report = Report("cli")
    httpx_cli = httpx_imports_its_cli()
    print(
        "import httpx here "
        + ("also imports" if httpx_cli else "does not import")
        + " its command line (httpx._main: click and rich are "
        + ("installed)" if httpx_cli else "not both installed)")
    )
    report.notes.append(
        "import httpx "
        + ("imported" if httpx_cli else "did not import")
        + " httpx's command line here (httpx._main, when click and rich are "
        "installed: about 40 ms for the baseline and the app alike)"
    )

    with Simulator(tokens=(TOKEN,)) as gateway, fresh_home() as scratch:
        url = gateway.url
        baseline = [PYTHON, "-c", BASELINE.format(url=url)]
        command = [
            PLAN_RUNNER,
            *("run", "--gateway", url, "--plan", "681", "--user", "1"),
        ]
        home = scratch / "home"
        env = clean_environment(PLAN_RUNNER_HOME=str(home), PLAN_RUNNER_TOKEN=TOKEN)
        base_env = clean_environment()
        profile_env = profile_setup(scratch / "profile-home", url)
        profile_command = [
            PLAN_RUNNER,
            *("run", "--profile", PROFILE, "--plan", "681", "--user", "1"),
        ]

        # One warm-up each: bytecode cache, page cache, the home's history file.
        timed_run(baseline, base_env)
        check_queued(timed_run(command, env)[1])
        check_queued(timed_run(profile_command, profile_env)[1])

        times: dict[str, list[float]] = {
            "baseline": [],
            "run": [],
            "new home": [],
            "profile": [],
        }
        posts_before = len(gateway.queue_posts)
        for n in range(args.runs):
            times["baseline"].append(timed_run(baseline, base_env)[0])
            elapsed, done = timed_run(command, env)
            check_queued(done)
            times["run"].append(elapsed)
            new_env = {**env, "PLAN_RUNNER_HOME": str(scratch / f"new-{n}")}
            elapsed, done = timed_run(command, new_env)
            check_queued(done)
            times["new home"].append(elapsed)
            shutil.rmtree(scratch / f"new-{n}", ignore_errors=True)
            elapsed, done = timed_run(profile_command, profile_env)
            check_queued(done)
            times["profile"].append(elapsed)
        posts = len(gateway.queue_posts) - posts_before
        if posts != 4 * args.runs:
            raise RuntimeError(f"expected {4 * args.runs} queue posts, saw {posts}")

        if args.history_file:
            big = scratch / "big"
            (big / "data").mkdir(parents=True)
            shutil.copy(args.history_file, big / "data" / "history.sqlite3")
            big_env = {**env, "PLAN_RUNNER_HOME": str(big)}
            timed_run(command, big_env)
            times[args.history_file.name] = []
            for _ in range(max(3, args.runs // 3)):
                elapsed, done = timed_run(command, big_env)
                check_queued(done)
                times[args.history_file.name].append(elapsed)

        print(f"\nwhole process, spawn to exit, median of {args.runs} (ms):")
        labels = {
            "baseline": "python -c httpx.post (baseline)",
            "run": "plan-runner run --gateway (home used before)",
            "new home": "plan-runner run --gateway (new home each run)",
            "profile": "plan-runner run --profile (stand-in keyring)",
        }
        for key, values in times.items():
            label = labels.get(key, f"plan-runner run --gateway, history {key}")
            print(f"  {label:<50}{median(values):7.1f}  ({spread(values)})")

        base = median(times["baseline"])
        report.add(
            Figure(
                "plan-runner run vs the simulator, whole process",
                median(times["run"]),
                "ms",
                baseline=base,
                max_ratio=1.5,
                note=f"median of {args.runs}, alternating",
            )
        )
        report.add(
            Figure(
                "  same, new home each run",
                median(times["new home"]),
                "ms",
                baseline=base,
            )
        )
        report.add(
            Figure(
                "  --profile, file-backed stand-in keyring",
                median(times["profile"]),
                "ms",
                baseline=base,
            )
        )
        if args.history_file:
            values = times[args.history_file.name]
            report.add(
                Figure(
                    f"  same, history {args.history_file.name}",
                    median(values),
                    "ms",
                    baseline=base,
                    note=f"median of {len(values)}",
                )
            )
        report.notes.append(
            "--profile runs use drivers/bench_keyring.py through "
            "PYTHON_KEYRING_BACKEND: no Secret Service here; the real one adds "
            "secretstorage, jeepney and D-Bus round trips"
        )

        if args.importtime_runs:
            import_findings(
                baseline, base_env, command, env, args.importtime_runs, report
            )

    print()
    report.print_table()
    report.write(args.json)
    return 0 if all(f.met is not False for f in report.figures) else 1


def httpx_imports_its_cli() -> bool:
    """Return whether ``import httpx`` imports httpx's command line here."""
    done = subprocess.run(
        [PYTHON, "-c", "import httpx, sys; print('httpx._main' in sys.modules)"],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip() == "True"


def profile_setup(home: Path, url: str) -> dict[str, str]:
    """Add profile ``bench`` (URL and token in the stand-in keyring); return env."""
    pythonpath = clean_environment()["PYTHONPATH"]
    env = clean_environment(
        PLAN_RUNNER_HOME=str(home),
        PYTHON_KEYRING_BACKEND="bench_keyring.FileKeyring",
        BENCH_KEYRING_FILE=str(home.parent / "keyring.json"),
        PYTHONPATH=os.pathsep.join([str(DRIVERS), pythonpath]),
    )
    timed_run([PLAN_RUNNER, "profile", "add", PROFILE, "--gateway", url], env)
    done = subprocess.run(  # noqa: PLW1510 - checked below
        [PLAN_RUNNER, "token", "set", "--profile", PROFILE],
        env=env,
        input=TOKEN,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"token set failed:\n{done.stdout}{done.stderr}")
    return env


def check_queued(done: subprocess.CompletedProcess[str]) -> None:
    if done.returncode != 0 or not done.stdout.startswith("QUEUED"):
        raise RuntimeError(f"the run was not queued:\n{done.stdout}{done.stderr}")


def import_findings(
    baseline: list[str],
    base_env: dict[str, str],
    command: list[str],
    env: dict[str, str],
    runs: int,
    report: Report,
) -> None:
    """Print the command's imports that the baseline does not make."""
    base = median_imports(importtime_runs(baseline, base_env, runs))
    cli = median_imports(importtime_runs(command, env, runs))
    extra = {name: item for name, item in cli.items() if name not in base}
    total = sum(item.self_ms for item in extra.values())
    print(
        f"\nimports of `plan-runner run` not in the baseline's import set: "
        f"{len(extra)} modules, {total:.0f} ms self time (median of {runs} runs "
        "under -X importtime, which inflates times a little)"
    )
    print("  top 10 by cumulative time:")
    for item in sorted(extra.values(), key=lambda i: -i.cumulative_ms)[:10]:
        print(
            f"    {item.name:<40}{item.cumulative_ms:7.1f} ms"
            f"  (self {item.self_ms:.1f})"
        )
    print("  self time by package:")
    for package, ms, count in by_package(extra)[:12]:
        print(f"    {package:<40}{ms:7.1f} ms  ({count} modules)")
    report.notes.append(
        f"`plan-runner run` imports {len(extra)} modules the baseline does not "
        f"({total:.0f} ms self time under -X importtime)"
    )


if __name__ == "__main__":
    run_main(main)
