"""A damaged history keeps what can be kept: its indexes rebuilt, or its runs copied."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from samples import sample_outcome

from app.core.errors import HistoryError
from app.core.history import (
    FileState,
    HistoryFilter,
    HistoryStore,
    check_file,
    repair_file,
    to_epoch_ms,
)
from app.core.outcome import Category

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
RUNS = 5001
PAGE_SIZE = 4096


class Clock:
    def __call__(self) -> datetime:
        return T0


def raw(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed history of 5,001 runs: small, so every open checks it in full."""
    path = tmp_path_factory.mktemp("template") / "history.sqlite3"
    HistoryStore.open(path, clock=Clock()).close()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO runs (started_at, finished_at, gateway_url, plan_id, "
            "user_id, outcome, message, title, advice, duration_ms) "
            "VALUES (?, ?, 'https://g/queue', ?, ?, 'queued', 'm', 't', 'a', 50)",
            (
                (to_epoch_ms(T0) + n, to_epoch_ms(T0) + n + 50, n % 97 + 1, n % 13 + 1)
                for n in range(RUNS)
            ),
        )
        connection.execute("COMMIT")
    finally:
        connection.close()
    return path


@pytest.fixture
def path(template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "history.sqlite3"
    shutil.copyfile(template, path)
    return path


def leaf_pages(path: Path, tree: str) -> list[int]:
    rows = raw(
        path,
        "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' "
        "ORDER BY pageno",
        (tree,),
    )
    return [row[0] for row in rows]


def read_page(path: Path, page: int) -> bytes:
    with path.open("rb") as stream:
        stream.seek((page - 1) * PAGE_SIZE)
        return stream.read(PAGE_SIZE)


def write_into_page(path: Path, page: int, offset: int, data: bytes) -> None:
    with path.open("r+b") as stream:
        stream.seek((page - 1) * PAGE_SIZE + offset)
        stream.write(data)


def varint(data: bytes, at: int) -> tuple[int, int]:
    """Decode an SQLite varint; return its value and where the next one starts."""
    value = 0
    for n in range(9):
        byte = data[at + n]
        if n == 8:
            return (value << 8) | byte, at + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + n + 1
    raise AssertionError("unreachable")


def ids_on_table_leaf(page: bytes) -> set[int]:
    """Return the row IDs held by the cells of one leaf page of a table."""
    assert page[0] == 0x0D, "not a table leaf page"
    cells = int.from_bytes(page[3:5], "big")
    ids = set()
    for n in range(cells):
        pointer = int.from_bytes(page[8 + 2 * n : 10 + 2 * n], "big")
        _, after_size = varint(page, pointer)
        row_id, _ = varint(page, after_size)
        ids.add(row_id)
    return ids


def moved_aside(path: Path) -> list[Path]:
    return sorted(
        p
        for p in path.parent.iterdir()
        if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))
    )


def all_ids(store: HistoryStore) -> set[int]:
    return {row.id for row in store.page(HistoryFilter(), limit=10_000)}


def damage_an_index_leaf(path: Path) -> int:
    """Overwrite cell pointers in a leaf page of runs_by_user (not its header)."""
    page = leaf_pages(path, "runs_by_user")[len(leaf_pages(path, "runs_by_user")) // 2]
    write_into_page(path, page, 100, b"\xab" * 200)
    return page


def wipe_a_table_leaf(path: Path) -> set[int]:
    """Overwrite a whole leaf page of runs halfway in; return the IDs it held."""
    pages = leaf_pages(path, "runs")
    page = pages[len(pages) // 2]
    ids = ids_on_table_leaf(read_page(path, page))
    write_into_page(path, page, 0, b"\xff" * PAGE_SIZE)
    return ids


# --- damage confined to an index -------------------------------------------------


def test_a_damaged_index_page_is_rebuilt_in_place_and_every_run_kept(
    path: Path,
) -> None:
    damage_an_index_leaf(path)
    assert raw(path, "PRAGMA quick_check") != [("ok",)]

    with HistoryStore.open(path, clock=Clock()) as store:
        assert store.count(HistoryFilter()) == RUNS
        assert store.count(HistoryFilter(user_id=5)) == len(
            [n for n in range(RUNS) if n % 13 + 1 == 5]
        )
        (notice,) = store.notices

    assert "indexes" in notice
    assert "no run was lost" in notice
    assert moved_aside(path) == []
    assert raw(path, "PRAGMA integrity_check") == [("ok",)]


def test_an_index_page_that_cannot_be_read_still_keeps_every_run(path: Path) -> None:
    # A page whose header is garbage cannot even be dropped with its index:
    # the runs are then copied, every one of them, into a new history.
    page = leaf_pages(path, "runs_by_user")[0]
    write_into_page(path, page, 0, b"\xff" * PAGE_SIZE)

    with HistoryStore.open(path, clock=Clock()) as store:
        assert all_ids(store) == set(range(1, RUNS + 1))
        (notice,) = store.notices

    assert "no run was lost" in notice or f"all {RUNS:,} of its runs" in notice
    assert raw(path, "PRAGMA integrity_check") == [("ok",)]


# --- damage in the runs themselves -------------------------------------------------


def test_a_damaged_table_page_loses_only_the_runs_on_it(path: Path) -> None:
    lost = wipe_a_table_leaf(path)
    damaged = path.read_bytes()
    assert 0 < len(lost) < 200

    with HistoryStore.open(path, clock=Clock()) as store:
        kept = all_ids(store)
        first = store.get(1)
        (notice,) = store.notices

    assert kept == set(range(1, RUNS + 1)) - lost
    assert first is not None
    assert first.started_at == T0
    assert first.outcome is Category.QUEUED
    (aside,) = moved_aside(path)
    assert aside.read_bytes() == damaged  # kept for support as it was found
    assert f"{len(kept):,} of its runs were copied" in notice
    assert f"{len(lost):,} could not be read" in notice
    assert str(aside) in notice
    assert raw(path, "PRAGMA integrity_check") == [("ok",)]
    assert not list(path.parent.glob("*.salvage*"))


def test_runs_recorded_after_a_salvage_never_reuse_a_lost_id(path: Path) -> None:
    pages = leaf_pages(path, "runs")
    last = ids_on_table_leaf(read_page(path, pages[-1]))
    assert RUNS in last
    write_into_page(path, pages[-1], 0, b"\xff" * PAGE_SIZE)

    with HistoryStore.open(path, clock=Clock()) as store:
        assert max(all_ids(store)) < min(last)
        new_id = store.record(sample_outcome(T0))

    assert new_id == RUNS + 1


def test_the_warning_is_short_and_the_log_has_the_first_few_details(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wipe_a_table_leaf(path)
    damage_an_index_leaf(path)
    caplog.set_level(logging.WARNING, logger="app.core.history")

    with HistoryStore.open(path, clock=Clock()) as store:
        (notice,) = store.notices

    assert "\n" not in notice
    assert notice.count(". ") <= 1
    assert len(notice) < 400
    assert "tree page" not in notice.lower()
    logged = [r.getMessage() for r in caplog.records if "is damaged:" in r.getMessage()]
    assert len(logged) == 1
    assert "more)" in logged[0]
    assert logged[0].count(";") <= 3


def test_damage_met_by_a_query_is_salvaged_at_the_next_open(path: Path) -> None:
    # Opened before the damage, as a window would be: a query meets it.
    store = HistoryStore.open(path, clock=Clock())
    lost = wipe_a_table_leaf(path)
    try:
        with pytest.raises(HistoryError, match="damaged"):
            store.page(HistoryFilter(text="words no run holds"))
    finally:
        store.close()

    with HistoryStore.open(path, clock=Clock()) as store:
        assert all_ids(store) == set(range(1, RUNS + 1)) - lost


# --- history check --full --repair ---------------------------------------------------


def test_a_check_places_index_page_damage_in_the_index_and_the_repair_rebuilds_it(
    path: Path,
) -> None:
    damage_an_index_leaf(path)

    found = check_file(path, thorough=True)
    told: list[str] = []
    done = repair_file(found, clock=Clock(), progress=told.append)

    assert found.state is FileState.INDEXES_DAMAGED
    assert found.indexes == ("runs_by_user",)
    assert "No run was lost" in done
    assert told
    assert "indexes" in told[0]
    assert check_file(path, thorough=True).state is FileState.WHOLE
    assert moved_aside(path) == []
    with HistoryStore.open(path, clock=Clock()) as store:
        assert store.count(HistoryFilter()) == RUNS


def test_the_repair_of_a_damaged_table_keeps_the_runs_that_read(path: Path) -> None:
    lost = wipe_a_table_leaf(path)

    found = check_file(path, thorough=True)
    done = repair_file(found, clock=Clock())

    assert found.state is FileState.DAMAGED
    assert f"{len(lost):,} could not be read" in done
    (aside,) = moved_aside(path)
    assert str(aside) in done
    with HistoryStore.open(path, clock=Clock()) as store:
        assert store.notices == []
        assert all_ids(store) == set(range(1, RUNS + 1)) - lost
