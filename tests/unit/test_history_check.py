"""Checking the history file on request, and repairing what the check finds."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from samples import mismatch_an_index, sample_outcome

from app.core.errors import HistoryError
from app.core.history import (
    FileState,
    HistoryFilter,
    HistoryStore,
    check_file,
    repair_file,
)

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
PAGE_SIZE = 4096


def fill(path: Path, runs: int = 40) -> None:
    with HistoryStore.open(path) as store:
        for n in range(runs):
            store.record(sample_outcome(NOW, plan_id=n + 1, user_id=1000 + n))


def damage_the_runs(path: Path) -> None:
    """Overwrite the pages of the runs table (the root page of ``runs``)."""
    connection = sqlite3.connect(path)
    root = connection.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'runs'"
    ).fetchone()[0]
    connection.close()
    with path.open("r+b") as stream:
        stream.seek((root - 1) * PAGE_SIZE)
        stream.write(b"\x0d" + b"\xff" * (PAGE_SIZE - 1))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "history.sqlite3"
    fill(path)
    return path


def test_a_missing_file_is_reported_as_missing_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    assert check_file(path).state is FileState.MISSING
    assert not path.exists()


def test_a_whole_file_passes_both_checks(path: Path) -> None:
    quick = check_file(path)
    full = check_file(path, thorough=True)

    assert (quick.state, quick.thorough) == (FileState.WHOLE, False)
    assert (full.state, full.thorough) == (FileState.WHOLE, True)
    assert full.pages > 0


def test_index_damage_passes_the_quick_check_and_is_found_by_the_full_one(
    path: Path,
) -> None:
    mismatch_an_index(path)
    before = path.read_bytes()

    quick = check_file(path)
    full = check_file(path, thorough=True)

    assert quick.state is FileState.WHOLE
    assert full.state is FileState.INDEXES_DAMAGED
    assert full.indexes == ("runs_by_plan",)
    assert "missing from index runs_by_plan" in full.problems[0]
    assert path.read_bytes() == before  # a check changes nothing


def test_repairing_index_damage_rebuilds_the_index_and_keeps_every_run(
    path: Path,
) -> None:
    mismatch_an_index(path)

    done = repair_file(check_file(path, thorough=True))

    assert "No run was lost" in done
    assert check_file(path, thorough=True).state is FileState.WHOLE
    (definition,) = (
        sqlite3.connect(path)
        .execute("SELECT sql FROM sqlite_master WHERE name = 'runs_by_plan'")
        .fetchone()
    )
    assert "plan_id" in definition  # the definition this code wrote, back again
    with HistoryStore.open(path) as store:
        assert store.count(HistoryFilter()) == 40
        assert store.count(HistoryFilter(plan_id=7)) == 1
    assert list(path.parent.glob("*.corrupt-*")) == []


def test_a_note_of_damage_makes_the_quick_check_a_full_one(path: Path) -> None:
    mismatch_an_index(path)
    path.with_name(path.name + ".check-needed").write_text("damage\n")

    found = check_file(path)

    assert found.thorough
    assert found.state is FileState.INDEXES_DAMAGED


def test_damaged_runs_are_reported_and_the_repair_moves_the_file_aside(
    path: Path,
) -> None:
    damage_the_runs(path)

    found = check_file(path)

    assert found.state is FileState.DAMAGED
    assert found.problems
    done = repair_file(found)
    moved = [
        kept
        for kept in path.parent.glob("history.sqlite3.corrupt-*")
        if not kept.name.endswith(("-wal", "-shm"))
    ]
    assert len(moved) == 1
    assert str(moved[0]) in done
    # The only page of runs was the damaged one: the new history is empty.
    assert "none of its runs could be read" in done
    assert check_file(path, thorough=True).state is FileState.WHOLE
    with HistoryStore.open(path) as store:
        assert store.count(HistoryFilter()) == 0


def test_a_file_that_is_not_a_database_is_damaged(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"this is not SQLite" * 300)

    assert check_file(path).state is FileState.DAMAGED


def test_a_repair_refuses_while_another_connection_has_the_file_open(
    path: Path,
) -> None:
    damage_the_runs(path)
    found = check_file(path)
    other = sqlite3.connect(path)
    other.execute("PRAGMA user_version").fetchone()
    try:
        with pytest.raises(HistoryError, match="Close every Plan Runner window"):
            repair_file(found, patience=0.3)
    finally:
        other.close()
    assert path.exists()
    assert list(path.parent.glob("*.corrupt-*")) == []


def test_a_check_of_a_locked_file_says_another_program_holds_it(path: Path) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA locking_mode = EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("DELETE FROM meta")
    try:
        with pytest.raises(HistoryError, match="another program"):
            check_file(path, patience=0.3)
    finally:
        other.execute("ROLLBACK")
        other.close()
