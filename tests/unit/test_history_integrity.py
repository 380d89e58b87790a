"""The history's integrity checks: quick ones at every open, the full one when due."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from samples import mismatch_an_index, sample_outcome

from app.core.errors import HistoryError
from app.core.history import (
    CHECK_INTERVAL,
    SCHEMA_VERSION,
    SMALL_FILE_PAGES,
    HistoryFilter,
    HistoryStore,
    from_epoch_ms,
    to_epoch_ms,
)
from app.core.outcome import Outcome

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
"""When the template's last full check is recorded."""

PAGE_SIZE = 4096
LARGE_RUNS = SMALL_FILE_PAGES * 2 + 1000


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def outcome(**changes: object) -> Outcome:
    return sample_outcome(T0, **changes)


def raw(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def recorded_check(path: Path) -> datetime | None:
    rows = raw(path, "SELECT value FROM meta WHERE key = 'full_check_at'")
    return from_epoch_ms(rows[0][0]) if rows else None


def recorded_wal(path: Path) -> bytes | None:
    rows = raw(path, "SELECT value FROM meta WHERE key = 'full_check_wal'")
    return rows[0][0] if rows else None


def page_count(path: Path) -> int:
    return raw(path, "PRAGMA page_count")[0][0]


def damage_pages_in_the_middle(path: Path, count: int = 16) -> None:
    """Overwrite pages halfway into the file: runs, not its header or schema."""
    middle = path.stat().st_size // PAGE_SIZE // 2
    with path.open("r+b") as stream:
        stream.seek(middle * PAGE_SIZE)
        stream.write(b"\xff" * PAGE_SIZE * count)


def read_every_run(store: HistoryStore) -> None:
    """Run a query that reads every row of the table (a text search)."""
    store.page(HistoryFilter(text="words that no run holds"))


def leave_a_wal_as_a_crash_would(path: Path, target: Path) -> None:
    """Copy ``path`` to ``target`` with the -wal of a session that never closed."""
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute(
            "INSERT INTO runs (started_at, finished_at, gateway_url, plan_id, "
            "user_id, outcome, title, advice, duration_ms) VALUES (?, ?, 'g', 1, 1, "
            "'queued', 'the last run before the crash', 'a', 1)",
            (to_epoch_ms(T0), to_epoch_ms(T0)),
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal"):
            shutil.copyfile(
                path.with_name(path.name + suffix),
                target.with_name(target.name + suffix),
            )
    finally:
        writer.close()
    assert target.with_name(target.name + "-wal").stat().st_size > 0


@pytest.fixture(scope="module")
def large_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A history just over the size that is checked at every open.

    Its last full check is recorded at T0, and it was closed cleanly (no -wal).
    """
    path = tmp_path_factory.mktemp("template") / "history.sqlite3"
    HistoryStore.open(path, clock=Clock(T0)).close()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO runs (started_at, finished_at, gateway_url, plan_id, "
            "user_id, outcome, message, title, advice, duration_ms) "
            "VALUES (?, ?, 'https://g/queue', ?, 7, 'queued', ?, 't', 'a', 50)",
            (
                (to_epoch_ms(T0) + n, to_epoch_ms(T0) + n + 50, n, "m" * 1800)
                for n in range(LARGE_RUNS)
            ),
        )
        connection.execute("COMMIT")
    finally:
        connection.close()
    with HistoryStore.open(path, clock=Clock(T0), full_check=True) as store:
        assert store.full_check_reason == "asked for"
    assert page_count(path) > SMALL_FILE_PAGES
    assert recorded_check(path) == T0
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture
def large(large_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "data" / "history.sqlite3"
    path.parent.mkdir()
    shutil.copyfile(large_template, path)
    return path


@pytest.fixture
def stores() -> Iterator[list[HistoryStore]]:
    """Stores a test opens side by side; closed at the end whatever happens."""
    opened: list[HistoryStore] = []
    yield opened
    for store in opened:
        store.close()


def moved_aside(path: Path) -> list[str]:
    """Return the names of the damaged files moved aside (not their -wal, -shm)."""
    return sorted(
        p.name
        for p in path.parent.iterdir()
        if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))
    )


# --- when the full check runs ----------------------------------------------------


def test_large_file_checked_today_opens_without_a_full_check(large: Path) -> None:
    with HistoryStore.open(large, clock=Clock(T0 + timedelta(hours=20))) as store:
        assert store.full_check_reason is None
        assert store.notices == []
        assert store.count(HistoryFilter()) > 0

    assert recorded_check(large) == T0


def test_damage_away_from_the_quick_checks_waits_for_a_due_full_check(
    large: Path,
) -> None:
    damage_pages_in_the_middle(large)

    # Checked 20 hours ago: the damage is not looked for, and the file opens.
    with HistoryStore.open(large, clock=Clock(T0 + timedelta(hours=20))) as store:
        assert store.notices == []
    assert moved_aside(large) == []

    # A day after the last check, the full check finds it and moves it aside;
    # the runs away from the damaged pages go on in a new history.
    later = Clock(T0 + CHECK_INTERVAL + timedelta(minutes=1))
    with HistoryStore.open(large, clock=later) as store:
        kept = store.count(HistoryFilter())
        assert 0 < kept < LARGE_RUNS
        assert len(store.notices) == 1
        assert "damaged" in store.notices[0]
        assert f"{kept:,} of its runs were copied" in store.notices[0]
    assert moved_aside(large) == ["history.sqlite3.corrupt-20261103T093100Z"]


def test_a_due_full_check_is_recorded_and_not_repeated_the_same_day(
    large: Path,
) -> None:
    clock = Clock(T0 + timedelta(days=3))

    with HistoryStore.open(large, clock=clock) as store:
        assert store.full_check_reason is not None
        assert "last full check" in store.full_check_reason
    assert recorded_check(large) == clock.now

    clock.now += timedelta(hours=23)
    with HistoryStore.open(large, clock=clock) as store:
        assert store.full_check_reason is None
    assert recorded_check(large) == T0 + timedelta(days=3)


def test_a_full_check_recorded_in_the_future_is_not_trusted(large: Path) -> None:
    earlier = Clock(T0 - timedelta(hours=1))

    with HistoryStore.open(large, clock=earlier) as store:
        assert store.full_check_reason is not None

    assert recorded_check(large) == earlier.now


def test_a_file_without_a_recorded_check_gets_one(large: Path) -> None:
    connection = sqlite3.connect(large)
    connection.execute("DELETE FROM meta")
    connection.commit()
    connection.close()

    with HistoryStore.open(large, clock=Clock(T0)) as store:
        assert store.full_check_reason == "no full check recorded"

    assert recorded_check(large) == T0


def test_full_check_runs_when_asked_even_if_not_due(large: Path) -> None:
    damage_pages_in_the_middle(large)

    with HistoryStore.open(
        large, clock=Clock(T0 + timedelta(hours=1)), full_check=True
    ) as store:
        assert "damaged" in store.notices[0]

    assert len(moved_aside(large)) == 1


def test_small_file_is_checked_in_full_at_every_open_without_a_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.sqlite3"
    with HistoryStore.open(path, clock=Clock(T0)) as store:
        for n in range(300):
            store.record(outcome(message="x" * 1500, plan_id=n + 1))
    assert page_count(path) <= SMALL_FILE_PAGES

    for _ in range(2):
        with HistoryStore.open(path, clock=Clock(T0)) as store:
            assert store.full_check_reason == "small enough to check at every open"
    assert recorded_check(path) is None

    damage_pages_in_the_middle(path, count=4)
    with HistoryStore.open(path, clock=Clock(T0)) as store:
        assert "damaged" in store.notices[0]
    assert len(moved_aside(path)) == 1


def test_a_cut_off_large_file_is_found_by_the_quick_checks(large: Path) -> None:
    data = large.read_bytes()
    large.write_bytes(data[: len(data) * 3 // 4])

    with HistoryStore.open(large, clock=Clock(T0 + timedelta(hours=1))) as store:
        assert "damaged" in store.notices[0]

    assert len(moved_aside(large)) == 1


# --- sessions that did not end cleanly ----------------------------------------------


def test_a_wal_left_by_a_session_that_did_not_close_forces_the_full_check(
    large: Path, tmp_path: Path
) -> None:
    crashed = tmp_path / "crashed" / "history.sqlite3"
    leave_a_wal_as_a_crash_would(large, crashed)
    clock = Clock(T0 + timedelta(hours=1))

    with HistoryStore.open(crashed, clock=clock) as store:
        assert store.full_check_reason is not None
        assert "-wal" in store.full_check_reason
        assert store.notices == []
        assert store.count(HistoryFilter(text="the last run before the crash")) == 1

    assert recorded_check(crashed) == clock.now


def test_damage_left_with_the_wal_of_a_crash_is_found_at_the_next_open(
    large: Path, tmp_path: Path
) -> None:
    crashed = tmp_path / "crashed" / "history.sqlite3"
    leave_a_wal_as_a_crash_would(large, crashed)
    damage_pages_in_the_middle(crashed)

    with HistoryStore.open(crashed, clock=Clock(T0 + timedelta(hours=1))) as store:
        assert "damaged" in store.notices[0]

    assert len(moved_aside(crashed)) == 1


def test_another_session_keeping_the_file_open_costs_one_full_check_per_log(
    large: Path, stores: list[HistoryStore]
) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    window = HistoryStore.open(large, clock=clock)
    stores.append(window)
    assert window.full_check_reason is None
    window.record(outcome())
    header = large.with_name("history.sqlite3-wal").read_bytes()[:32]

    # The window's -wal looks like a crash's from outside: the first command
    # checks the file and records that log.
    with HistoryStore.open(large, clock=clock) as command:
        assert command.full_check_reason is not None
    assert recorded_wal(large) == header

    # The next commands find the same log, and do not check again.
    for _ in range(2):
        with HistoryStore.open(large, clock=clock) as command:
            assert command.full_check_reason is None
            command.record(outcome())
    window.record(outcome())
    with HistoryStore.open(large, clock=clock) as command:
        assert command.full_check_reason is None
        assert command.count(HistoryFilter(profile="staging")) == 4


def test_a_cleanly_closed_session_leaves_nothing_that_calls_for_a_check(
    large: Path,
) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    with HistoryStore.open(large, clock=clock) as store:
        store.record(outcome())

    assert not large.with_name("history.sqlite3-wal").exists()
    with HistoryStore.open(large, clock=clock) as store:
        assert store.full_check_reason is None


# --- damage met after the open ------------------------------------------------------


def test_damage_met_by_a_query_is_a_history_error_and_the_next_open_moves_it(
    large: Path,
) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    damage_pages_in_the_middle(large)
    note = large.with_name("history.sqlite3.check-needed")

    with HistoryStore.open(large, clock=clock) as store:
        assert store.notices == []
        with pytest.raises(HistoryError) as caught:
            read_every_run(store)

    message = str(caught.value)
    assert message == (
        f"Could not read the history: {large} is damaged. Restart Plan Runner; it "
        "will move the damaged file aside and start a new one."
    )
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert note.is_file()

    # A restart on the same day, with no full check otherwise due: the note
    # asks for one, which finds the damage.
    with HistoryStore.open(large, clock=clock) as store:
        assert "damaged" in store.notices[0]
        assert 0 < store.count(HistoryFilter()) < LARGE_RUNS
    assert len(moved_aside(large)) == 1
    assert not note.exists()


def test_a_note_of_damage_gets_the_check_that_compares_indexes_with_the_table(
    large: Path,
) -> None:
    # An index whose entries no longer match its table: SQLite's quick_check
    # does not compare the two, integrity_check does.
    mismatch_an_index(large)
    clock = Clock(T0 + timedelta(hours=1))
    assert raw(large, "PRAGMA quick_check") == [("ok",)]

    with HistoryStore.open(large, clock=clock, full_check=True) as store:
        assert store.notices == []

    # Only an index is wrong: it is built again in place, and no run is lost.
    note = large.with_name("history.sqlite3.check-needed")
    note.write_text("damage\n")
    with HistoryStore.open(large, clock=clock) as store:
        assert "indexes were damaged" in store.notices[0]
        assert store.count(HistoryFilter()) == LARGE_RUNS
        assert store.count(HistoryFilter(plan_id=7)) == 1
    assert moved_aside(large) == []
    assert not note.exists()
    assert raw(large, "PRAGMA integrity_check") == [("ok",)]


def test_a_note_of_damage_that_the_full_check_disproves_is_removed(
    large: Path,
) -> None:
    note = large.with_name("history.sqlite3.check-needed")
    note.write_text("damage\n")
    clock = Clock(T0 + timedelta(hours=1))

    with HistoryStore.open(large, clock=clock) as store:
        assert store.full_check_reason is not None
        assert store.notices == []

    assert not note.exists()
    assert recorded_check(large) == clock.now
    with HistoryStore.open(large, clock=clock) as store:
        assert store.full_check_reason is None


# --- the schema version that records the checks --------------------------------------


def test_version_2_file_gains_the_meta_table_and_a_private_backup(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.sqlite3"
    with HistoryStore.open(path, clock=Clock(T0)) as store:
        store.record(outcome())
    connection = sqlite3.connect(path)
    connection.execute("DROP TABLE meta")
    connection.execute("PRAGMA user_version = 2")
    connection.commit()
    connection.close()

    with HistoryStore.open(path, clock=Clock(T0)) as store:
        assert store.count(HistoryFilter()) == 1
        assert any("v2.bak" in notice for notice in store.notices)

    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw(path, "SELECT name FROM sqlite_master WHERE name = 'meta'") == [
        ("meta",)
    ]
    backup = path.with_name("history.sqlite3.v2.bak")
    assert raw(backup, "PRAGMA user_version") == [(2,)]
    if os.name == "posix":
        assert backup.stat().st_mode & 0o077 == 0
