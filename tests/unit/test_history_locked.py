"""The history while another program holds it locked: short waits, plain words."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from samples import sample_outcome

from app.core.errors import HistoryError
from app.core.history import BUSY_PATIENCE_S, HistoryFilter, HistoryStore

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "history.sqlite3"
    with HistoryStore.open(path) as store:
        store.record(sample_outcome(NOW))
    return path


@pytest.fixture
def writer_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another program with a write transaction left open (``BEGIN EXCLUSIVE``)."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO meta (key, value) VALUES ('browser', 1)")
    yield other
    other.execute("ROLLBACK")
    other.close()


@pytest.fixture
def exclusive_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another program that keeps the file to itself, readers included."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA locking_mode = EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO meta (key, value) VALUES ('browser', 1)")
    yield other
    other.execute("ROLLBACK")
    other.close()


def assert_blames_another_program(message: str, path: Path) -> None:
    assert "another program" in message
    assert str(path) in message
    assert "Close that program" in message
    assert "Plan Runner kept" not in message


def test_a_write_gives_up_within_the_patience_and_names_the_file(
    path: Path, writer_lock: sqlite3.Connection
) -> None:
    with HistoryStore.open(path, patience=0.5) as store:
        started = time.monotonic()
        with pytest.raises(HistoryError) as raised:
            store.record(sample_outcome(NOW))
        waited = time.monotonic() - started

    assert 0.4 <= waited < 1.5
    assert_blames_another_program(str(raised.value), path)
    assert "0.5 seconds" in str(raised.value)


def test_the_default_wait_is_a_few_seconds_not_forty(
    path: Path, writer_lock: sqlite3.Connection
) -> None:
    with HistoryStore.open(path) as store:
        started = time.monotonic()
        with pytest.raises(HistoryError):
            store.record(sample_outcome(NOW))
        waited = time.monotonic() - started

    assert BUSY_PATIENCE_S <= 5
    assert waited < BUSY_PATIENCE_S + 1


def test_reading_still_works_while_another_program_holds_the_write_lock(
    path: Path, writer_lock: sqlite3.Connection
) -> None:
    with HistoryStore.open(path, patience=0.5) as store:
        assert store.count(HistoryFilter()) == 1


def test_opening_a_file_locked_to_readers_too_gives_up_within_the_patience(
    path: Path, exclusive_lock: sqlite3.Connection
) -> None:
    started = time.monotonic()
    with pytest.raises(HistoryError) as raised:
        HistoryStore.open(path, patience=0.5)
    waited = time.monotonic() - started

    assert waited < 1.5
    assert_blames_another_program(str(raised.value), path)


def test_the_write_succeeds_once_the_other_program_lets_go(path: Path) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with HistoryStore.open(path, patience=0.5) as store:
        with pytest.raises(HistoryError):
            store.record(sample_outcome(NOW))
        other.execute("ROLLBACK")
        other.close()
        store.record(sample_outcome(NOW))
        assert store.count(HistoryFilter()) == 2
