"""The history file survives a killed writer and shares itself between processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from app.core.history import SMALL_FILE_PAGES, HistoryFilter, HistoryStore

# Records runs in a loop and prints each row ID once its transaction committed.
# With a "go" file, it waits for that file to appear before writing, so that
# several writers start at the same moment.
WRITER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path

from app.core.history import HistoryStore
from app.core.outcome import Category, Outcome

path, count, tag = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
go = Path(sys.argv[4]) if len(sys.argv) > 4 else None
store = HistoryStore.open(path)
print("ready", flush=True)
while go is not None and not go.exists():
    time.sleep(0.005)
for n in range(count):
    row_id = store.record(
        Outcome(
            category=Category.QUEUED,
            title=f"Plan {n + 1} was queued",
            advice="Nothing else to do.",
            support="HTTP 200, code 0.",
            plan_id=2**63 - 1 - n,
            user_id=7,
            profile=tag,
            gateway_url="https://gateway.example.com/queue",
            http_status=200,
            code=0,
            message=f"{tag}-{n}",
            started_at=datetime.now(UTC),
            duration_ms=n,
            facts={"attempts": "1"},
        )
    )
    print(row_id, flush=True)
store.close()
"""


def writer(
    path: Path, count: int, tag: str, go: Path | None = None
) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", WRITER, str(path), str(count), tag]
    if go is not None:
        args.append(str(go))
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )


def committed_ids(lines: list[str]) -> list[int]:
    """Return the IDs printed in whole lines (a killed writer may cut the last)."""
    return [int(line) for line in lines if line.endswith("\n") and line[:-1].isdigit()]


def test_every_committed_row_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "data" / "history.sqlite3"
    process = writer(path, 1_000_000, "killed")
    assert process.stdout is not None
    lines: list[str] = []
    try:
        assert process.stdout.readline() == "ready\n"
        while len(committed_ids(lines)) < 400:
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else ""
            lines.append(line)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        rest, _ = process.communicate(timeout=30)
    lines.extend(rest.splitlines(keepends=True))
    printed = committed_ids(lines)
    assert process.returncode == -signal.SIGKILL
    assert len(printed) >= 400

    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        stored = {row[0] for row in connection.execute("SELECT id FROM runs")}
    finally:
        connection.close()
    missing = set(printed) - stored
    assert missing == set()

    with HistoryStore.open(path) as store:
        assert store.notices == []
        assert store.count(HistoryFilter(profile="killed")) == len(stored)
        assert store.get(max(printed)) is not None


def test_three_processes_writing_at_once_lose_no_row(tmp_path: Path) -> None:
    path = tmp_path / "data" / "history.sqlite3"
    go = tmp_path / "go"
    # Started together on a file that does not exist yet: they also race to
    # create the schema.
    processes = [writer(path, 200, f"writer-{n}", go) for n in range(3)]
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n", process.stderr.read()  # type: ignore[union-attr]
    started = time.monotonic()
    go.touch()
    outputs = [process.communicate(timeout=120) for process in processes]
    elapsed = time.monotonic() - started

    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
        assert "locked" not in stderr.lower()
        assert "Traceback" not in stderr
        assert len(committed_ids(stdout.splitlines(keepends=True))) == 200
    all_ids = [
        row_id
        for stdout, _ in outputs
        for row_id in committed_ids(stdout.splitlines(keepends=True))
    ]
    assert len(set(all_ids)) == 600

    with HistoryStore.open(path) as store:
        assert store.count(HistoryFilter()) == 600
        for n in range(3):
            rows = store.count(HistoryFilter(profile=f"writer-{n}"))
            assert rows == 200
        assert store.count(HistoryFilter(plan_id=2**63 - 1)) == 3
    assert elapsed < 60


def fill_past_the_small_size(path: Path) -> None:
    """Make a history too large to be checked at every open, checked just now."""
    HistoryStore.open(path).close()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO runs (started_at, finished_at, gateway_url, plan_id, "
            "user_id, outcome, message, title, advice, duration_ms) "
            "VALUES (0, 50, 'https://g/queue', ?, 7, 'queued', ?, 't', 'a', 50)",
            ((n, "m" * 1800) for n in range(SMALL_FILE_PAGES * 2 + 1000)),
        )
        connection.execute("COMMIT")
    finally:
        connection.close()
    with HistoryStore.open(path, full_check=True) as store:
        assert store.full_check_reason == "asked for"


def test_a_writer_killed_mid_session_makes_the_next_open_check_in_full(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "history.sqlite3"
    fill_past_the_small_size(path)
    with HistoryStore.open(path) as store:
        assert store.full_check_reason is None
    process = writer(path, 1_000_000, "killed")
    assert process.stdout is not None
    lines: list[str] = []
    try:
        assert process.stdout.readline() == "ready\n"
        while len(committed_ids(lines)) < 50:
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else ""
            lines.append(line)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)
    assert path.with_name("history.sqlite3-wal").stat().st_size > 0

    with HistoryStore.open(path) as store:
        assert store.full_check_reason is not None
        assert "-wal" in store.full_check_reason
        assert store.notices == []
        assert store.count(HistoryFilter(profile="killed")) >= 50


def test_a_writer_that_closes_leaves_nothing_for_the_next_open_to_check(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "history.sqlite3"
    fill_past_the_small_size(path)
    process = writer(path, 20, "closed")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr

    assert not path.with_name("history.sqlite3-wal").exists()
    with HistoryStore.open(path) as store:
        assert store.full_check_reason is None
        assert store.count(HistoryFilter(profile="closed")) == 20
