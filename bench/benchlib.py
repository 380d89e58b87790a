"""What the benches share: medians, fresh homes, the machine, the JSON hand-off.

Not a bench itself. Each bench imports it from its own folder, so a bench runs as
``.venv/bin/python bench/<name>.py`` without installing anything. Importing it
puts the repository this ``bench/`` folder belongs to first on ``sys.path`` (and
:func:`clean_environment` first on ``PYTHONPATH``), so a bench measures the
checkout it is run from, not the one the virtual environment has installed.

Exit codes, the same for every bench (see :func:`run_main`): 0 every target
met, 1 a target missed, 2 bad arguments (usage error), 3 the bench failed
(traceback printed), 130 / 143 stopped by SIGINT / SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DRIVERS = BENCH_DIR / "drivers"
PYTHON = sys.executable
PLAN_RUNNER = str(Path(sys.executable).with_name("plan-runner"))

# The app this checkout holds comes first, before an editable install of
# another checkout in the virtual environment.
sys.path.insert(0, str(REPO))

EXIT_MET, EXIT_MISSED, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


@dataclass
class Figure:
    """One line of a bench's verdict: a measurement against its target.

    ``limit`` is the absolute ceiling (same unit as ``measured``), ``max_ratio``
    the ceiling of ``measured / baseline``; either may be None.
    """

    name: str
    measured: float
    unit: str
    baseline: float | None = None
    limit: float | None = None
    max_ratio: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline <= 0:
            return None
        return self.measured / self.baseline

    @property
    def target(self) -> str:
        parts = []
        if self.limit is not None:
            parts.append(f"<= {self.limit:g} {self.unit}")
        if self.max_ratio is not None:
            parts.append(f"<= {self.max_ratio:g}x baseline")
        return " and ".join(parts) or "(info)"

    @property
    def met(self) -> bool | None:
        if self.limit is None and self.max_ratio is None:
            return None
        ok = True
        if self.limit is not None:
            ok &= self.measured <= self.limit
        if self.max_ratio is not None:
            ratio = self.ratio
            ok &= ratio is not None and ratio <= self.max_ratio
        return ok


@dataclass
class Report:
    """What a bench hands to ``run_all.py``: its figures and how it measured them."""

    bench: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def print_table(self) -> None:
        print_figures(self.figures)
        for note in self.notes:
            print(f"  note: {note}")

    def write(self, path: Path | None) -> None:
        if path is None:
            return
        document = {
            "bench": self.bench,
            "figures": [asdict(f) for f in self.figures],
            "notes": self.notes,
        }
        path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def number(value: float) -> str:
    """Format a figure: two decimals below 10 (so ratios can be checked), else one."""
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def print_figures(figures: Sequence[Figure]) -> None:
    """Print figures as a table: target, measured, baseline, ratio, met."""
    width = max([len("what"), *(len(f.name) for f in figures)]) + 2
    header = (
        f"{'what':<{width}}{'target':>26}{'measured':>14}{'baseline':>14}"
        f"{'ratio':>8}  met?"
    )
    print(header)
    print("-" * len(header))
    for f in figures:
        base = "" if f.baseline is None else f"{number(f.baseline)} {f.unit}"
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}"
        met = {None: "info", True: "yes", False: "NO"}[f.met]
        print(
            f"{f.name:<{width}}{f.target:>26}{f'{number(f.measured)} {f.unit}':>14}"
            f"{base:>14}{ratio:>8}  {met}"
        )
        if f.note:
            print(f"{'':<6}({f.note})")


def read_figures(path: Path) -> Report:
    """Read what a bench wrote with :meth:`Report.write`."""
    document = json.loads(path.read_text(encoding="utf-8"))
    report = Report(document["bench"], notes=document.get("notes", []))
    report.figures = [Figure(**f) for f in document["figures"]]
    return report


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """Return ``min..max`` of ``values``, for the printout."""
    return f"{min(values):.0f}..{max(values):.0f}"


@contextmanager
def fresh_home(prefix: str = "plan-runner-bench-") -> Iterator[Path]:
    """Yield an empty folder for ``PLAN_RUNNER_HOME``; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


PYCACHE = Path(tempfile.gettempdir()) / "plan-runner-bench-pycache"


def clean_environment(**extra: str) -> dict[str, str]:
    """Return the environment for a measured process.

    Plan Runner's own variables are dropped, and this checkout goes first on
    ``PYTHONPATH`` (an ``extra`` PYTHONPATH replaces that: build it on
    ``clean_environment()["PYTHONPATH"]``). Bytecode is cached, as it is for an
    installed app, in a folder of the benches' own (so nothing is written next
    to the sources); a shell with ``PYTHONDONTWRITEBYTECODE=1`` would otherwise
    compile every module without a cached ``.pyc`` at each start.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PLAN_RUNNER_")
        and k not in ("PYTHON_KEYRING_BACKEND", "PYTHONDONTWRITEBYTECODE")
    }
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    # The checkout of this bench first, as for the bench itself (see the top).
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    )
    env.update(extra)
    return env


def timed_run(
    command: Sequence[str], env: dict[str, str], *, check: bool = True
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``command`` to its end; return its wall time in ms and its result."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: PLW1510 - checked below, with the output shown
        list(command), env=env, capture_output=True, text=True, timeout=120
    )
    elapsed = (time.perf_counter() - started) * 1000
    if check and done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {done.returncode}:\n"
            f"{done.stdout}\n{done.stderr}"
        )
    return elapsed, done


def machine() -> dict[str, str]:
    """Describe the machine the figures come from."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    try:
        from PySide6 import __version__ as pyside  # noqa: PLC0415
    except ImportError:
        pyside = "not installed"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "pyside6": pyside,
        "os": platform.platform(),
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "code": measured_code(),
    }


def measured_code() -> str:
    """Say which app is measured: its folder, and the git commit when known.

    The commit gets ``+changes`` when the working tree differs from it; nothing
    is said of git when it is missing or the folder is not a repository.
    """
    import app  # noqa: PLC0415 - from this checkout, as sys.path says above

    where = f"app {Path(app.__file__).resolve().parent}"
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return where
    return f"{where}, commit {commit}{'+changes' if changes else ''}"


def print_machine() -> None:
    info = machine()
    print(
        f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, "
        f"Python {info['python']}, PySide6 {info['pyside6']}, {info['date']}, "
        f"load average {info['load']}; {info['code']}"
    )


@dataclass(frozen=True)
class Import:
    """One line of ``python -X importtime``: a module and its times in ms."""

    name: str
    self_ms: float
    cumulative_ms: float
    depth: int


def parse_importtime(stderr: str) -> list[Import]:
    """Read the ``-X importtime`` lines out of a process's stderr."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line[len("import time:") :].split("|", 2)
        stripped = name.rstrip()
        depth = (len(stripped) - len(stripped.lstrip(" "))) // 2
        found.append(
            Import(
                stripped.strip(),
                int(own) / 1000,
                int(cumulative) / 1000,
                depth,
            )
        )
    return found


def importtime_runs(
    command: Sequence[str], env: dict[str, str], runs: int
) -> list[dict[str, Import]]:
    """Run ``command`` under ``-X importtime`` ``runs`` times (after one warm-up)."""
    env = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    results = []
    for n in range(runs + 1):
        done = subprocess.run(  # noqa: PLW1510 - the output is what matters
            list(command), env=env, capture_output=True, text=True, timeout=120
        )
        if n:
            results.append({i.name: i for i in parse_importtime(done.stderr)})
    return results


def median_imports(runs: list[dict[str, Import]]) -> dict[str, Import]:
    """Return each module's median self and cumulative time over ``runs``."""
    names = set().union(*runs)
    merged = {}
    for name in names:
        seen = [run[name] for run in runs if name in run]
        merged[name] = Import(
            name,
            median([i.self_ms for i in seen]),
            median([i.cumulative_ms for i in seen]),
            seen[0].depth,
        )
    return merged


def by_package(imports: dict[str, Import]) -> list[tuple[str, float, int]]:
    """Sum self times by top-level package; return (package, ms, modules)."""
    totals: dict[str, list[float]] = {}
    for item in imports.values():
        top = item.name.split(".")[0]
        if top == "app":
            top = ".".join(item.name.split(".")[:3])
        totals.setdefault(top, []).append(item.self_ms)
    return sorted(
        ((name, sum(times), len(times)) for name, times in totals.items()),
        key=lambda entry: -entry[1],
    )


# Arguments: argparse types that turn a bad value into a usage error (exit 2)
# before anything is measured.


def at_least(minimum: int) -> Callable[[str], int]:
    """Return an argparse type: a whole number, ``minimum`` or more."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}: {value}")
        return value

    return parse


def seconds(text: str) -> float:
    """Argparse type: a number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be more than 0: {text}")
    return value


def output_file(text: str) -> Path:
    """Argparse type: a file the bench can write at the end (its folder exists)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder, not a file")
    folder = path.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"no folder {folder} to write {path.name} in")
    if not os.access(folder, os.W_OK) or (
        path.exists() and not os.access(path, os.W_OK)
    ):
        raise argparse.ArgumentTypeError(f"{path} cannot be written")
    return path


SQLITE_HEADER = b"SQLite format 3\x00"


def is_sqlite(path: Path) -> bool:
    """Return whether ``path`` starts with the header of an SQLite database."""
    with path.open("rb") as stream:
        return stream.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def history_file(text: str) -> Path:
    """Argparse type: an existing SQLite file (a history to start the app on)."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no file {path}")
    try:
        sqlite = is_sqlite(path)
    except OSError as error:
        raise argparse.ArgumentTypeError(f"{path}: {error.strerror}") from None
    if not sqlite:
        raise argparse.ArgumentTypeError(f"{path} is not an SQLite database")
    return path


# Signals and exit codes.

received_signal: int | None = None
"""The signal (SIGINT or SIGTERM) that is stopping the bench, once one came."""


def stop_on_signals(defer: Callable[[], bool] | None = None) -> None:
    """Make SIGINT and SIGTERM end the bench with its cleanup run.

    The first of them raises ``SystemExit(128 + signal)`` where the main thread
    is, so every ``finally`` and ``with`` runs: temporary folders are removed,
    ``subprocess.run`` kills the child it waits for. Later ones are ignored, so
    the cleanup runs to its end (SIGKILL still stops everything).

    ``defer`` is for a bench whose main thread spends its time in Qt's event
    loop: an exception raised in a Qt slot is printed by PySide and dropped.
    When ``defer()`` returns True it has arranged for the bench to stop itself
    (see :func:`check_stopped`), and nothing is raised here.
    """

    def on_signal(number: int, frame: object) -> None:
        global received_signal  # noqa: PLW0603 - one bench, one signal
        received_signal = number
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(
            f"\n{signal.Signals(number).name}: stopping, cleaning up",
            file=sys.stderr,
            flush=True,
        )
        if defer is None or not defer():
            raise SystemExit(128 + number)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def check_stopped() -> None:
    """Raise ``SystemExit(128 + signal)`` if a signal asked the bench to stop."""
    if received_signal is not None:
        raise SystemExit(128 + received_signal)


def run_main(main: Callable[[], int], defer: Callable[[], bool] | None = None) -> None:
    """Run a bench's ``main`` and exit with the codes every bench shares.

    0 every target met and 1 a target missed (what ``main`` returns), 2 a usage
    error (argparse's own), 3 the bench failed (the traceback is printed),
    128 + the signal when SIGINT or SIGTERM stopped it.
    """
    stop_on_signals(defer)
    try:
        code = main()
    except SystemExit as leaving:
        code = leaving.code
    except BaseException:  # noqa: BLE001 - any failure is reported the same way
        if received_signal is None:
            traceback.print_exc()
            print(f"the bench failed (exit code {EXIT_FAILED})", file=sys.stderr)
        code = EXIT_FAILED
    if received_signal is not None:
        # Whatever ended main: the signal's own SystemExit, one raised in a Qt
        # slot and dropped there, or a failure it caused (a child it stopped).
        code = 128 + received_signal
    sys.exit(code)
