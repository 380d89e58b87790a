"""The SQLite history of runs: recording, filters, paging, export, file care."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from samples import sample_outcome

from app import __version__
from app.core import history
from app.core.errors import HistoryError, InputError
from app.core.history import (
    CSV_FIELDS,
    SCHEMA_VERSION,
    HistoryFilter,
    HistoryRow,
    HistoryStore,
    csv_unescape,
    export_csv,
    export_json,
    iter_rows,
    to_epoch_ms,
)
from app.core.outcome import Category, Outcome

LONG_MAX = 2**63 - 1
T0 = datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=UTC)


def outcome(**changes: object) -> Outcome:
    changes.setdefault("facts", {"attempts": "1", "x-request-id": "req-1"})
    return sample_outcome(T0, **changes)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.sqlite3"


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + timedelta(seconds=1))


@pytest.fixture
def store(path: Path, clock: Clock) -> Iterator[HistoryStore]:
    opened = HistoryStore.open(path, clock=clock)
    yield opened
    opened.close()


def ids(rows: list[HistoryRow]) -> list[int]:
    return [row.id for row in rows]


def raw(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


# --- recording and reading -------------------------------------------------------


def test_new_store_creates_folder_and_current_schema_in_wal_mode(
    store: HistoryStore, path: Path
) -> None:
    assert path.is_file()
    assert store.notices == []
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw(path, "PRAGMA journal_mode") == [("wal",)]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_new_history_is_private_to_its_owner(store: HistoryStore, path: Path) -> None:
    store.record(outcome())
    for suffix in ("", "-wal", "-shm"):
        mode = path.with_name(path.name + suffix).stat().st_mode
        assert mode & 0o077 == 0, suffix


def test_record_then_get_returns_every_field(store: HistoryStore) -> None:
    row_id = store.record(
        outcome(message="Plan ok\nline two", code=0),
        plan_name="Nightly regression",
        user_name="Ada",
    )

    row = store.get(row_id)

    assert row is not None
    assert row.id == row_id
    assert row.started_at == T0.replace(microsecond=123000)
    assert row.started_at.tzinfo is not None
    assert row.started_at.utcoffset() == timedelta(0)
    assert row.finished_at == T0.replace(microsecond=123000) + timedelta(seconds=1)
    assert row.profile == "staging"
    assert row.gateway_url == "https://staging.example.com/queue"
    assert (row.plan_id, row.plan_name) == (42, "Nightly regression")
    assert (row.user_id, row.user_name) == (7, "Ada")
    assert row.outcome is Category.QUEUED
    assert (row.http_status, row.code) == (200, 0)
    assert row.message == "Plan ok\nline two"
    assert row.title == "Plan 42 was queued for user 7"
    assert row.advice == "Nothing else to do."
    assert row.duration_ms == 120
    assert row.app_version == __version__
    assert dict(row.facts) == {"attempts": "1", "x-request-id": "req-1"}


def test_ids_at_long_max_round_trip_exactly(store: HistoryStore, path: Path) -> None:
    row_id = store.record(outcome(plan_id=LONG_MAX, user_id=LONG_MAX - 1))

    row = store.get(row_id)

    assert row is not None
    assert row.plan_id == LONG_MAX
    assert row.user_id == LONG_MAX - 1
    assert raw(path, "SELECT typeof(plan_id), plan_id FROM runs") == [
        ("integer", LONG_MAX)
    ]
    assert ids(store.page(HistoryFilter(plan_id=LONG_MAX))) == [row_id]
    assert store.page(HistoryFilter(plan_id=LONG_MAX - 2)) == []
    text = json.dumps(row.to_dict())
    assert '"plan_id": 9223372036854775807' in text
    assert json.loads(text)["user_id"] == LONG_MAX - 1


def test_application_code_beyond_64_bits_is_kept_digit_for_digit(
    store: HistoryStore,
) -> None:
    huge = 10**30 + 1
    first = store.record(outcome(code=huge, category=Category.REJECTED))
    second = store.record(outcome(code=-(2**63), category=Category.REJECTED))

    assert store.get(first).code == huge  # type: ignore[union-attr]
    assert store.get(second).code == -(2**63)  # type: ignore[union-attr]


def test_missing_row_is_none(store: HistoryStore) -> None:
    assert store.get(12345) is None
    assert store.get(2**70) is None


def test_summary_and_to_dict_say_what_happened(store: HistoryStore) -> None:
    row = store.get(
        store.record(
            outcome(
                category=Category.AUTH,
                title="The token was refused",
                http_status=401,
                code=1000,
                message="token expired",
                plan_id=LONG_MAX,
            ),
            plan_name="Smoke",
        )
    )
    assert row is not None

    summary = row.summary()
    data = row.to_dict()

    assert summary.splitlines()[0] == "The token was refused"
    assert f"Plan {LONG_MAX} (Smoke), user 7, profile staging" in summary
    assert "Outcome: auth; HTTP 401, code 1000 (token expired); 120 ms" in summary
    assert f"Plan Runner {__version__}, history entry {row.id}" in summary
    assert data["plan_id"] == LONG_MAX
    assert data["outcome"] == "auth"
    assert data["started_at"] == "2026-11-02T09:30:15.123+00:00"
    assert data["facts"] == {"attempts": "1", "x-request-id": "req-1"}


def test_naive_start_time_is_taken_as_utc(store: HistoryStore) -> None:
    row_id = store.record(outcome(started_at=datetime(2026, 1, 1, 12, 0)))
    row = store.get(row_id)
    assert row is not None
    assert row.started_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_milliseconds_round_trip_exactly_over_a_century() -> None:
    start = to_epoch_ms(datetime(1990, 1, 1, tzinfo=UTC))
    for value in range(start, start + 3_000_000_000_000, 7_777_777_777):
        for ms in (value, value + 1, value + 999):
            row = history._row(
                (
                    1,
                    ms,
                    ms,
                    None,
                    "",
                    1,
                    None,
                    1,
                    None,
                    "queued",
                    None,
                    None,
                    None,
                    "",
                    "",
                    0,
                    None,
                    "{}",
                )
            )
            assert to_epoch_ms(row.started_at) == ms


def stored(started: object, finished: object) -> tuple[object, ...]:
    """The columns of a stored run, with these two times."""
    return (
        *(1, started, finished, None, "", 1, None, 1, None, "queued", None, None),
        *(None, "", "", 0, None, "{}"),
    )


@pytest.mark.parametrize(
    "ms",
    [
        0,
        1,
        to_epoch_ms(datetime(2026, 12, 4, 22, 42, 55, 575000, tzinfo=UTC)),
        history._FAST_MS[1],
        history._FAST_MS[1] + 1,  # past the quick path's range: read carefully
        to_epoch_ms(datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
        -1,
        -62_135_596_800_000,  # the first millisecond of year 1
        1_764_888_175_575.0,  # a float, as a hand-edited file may hold
    ],
)
def test_a_row_read_quickly_has_the_times_a_careful_read_gives(ms: object) -> None:
    # The quick path makes its datetimes only when they are read.
    quick = history._row(stored(ms, ms + 1))  # type: ignore[operator]
    careful = history._careful_row(stored(ms, ms + 1))  # type: ignore[operator]
    assert quick.started_at == careful.started_at
    assert quick.finished_at == careful.finished_at
    assert quick == careful
    assert quick.to_dict() == careful.to_dict()
    assert quick.cursor == careful.cursor
    again = dataclasses.replace(history._row(stored(ms, ms)), title="t")
    assert again.started_at == careful.started_at


def test_the_last_stored_time_shows_in_a_zone_east_of_utc(monkeypatch) -> None:
    # 9999-12-31 23:59:59.999 UTC is past what a datetime holds in Tokyo.
    last = to_epoch_ms(datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC))
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        row = history._row(stored(last, last))
        assert row.started_text == "9999-12-31 23:59:59"
        assert "started 9999-12-31 23:59:59+00:00" in row.summary()
        ordinary = history._row(stored(1_764_888_175_575, 1_764_888_175_575))
        assert ordinary.started_text == "2025-12-05 07:42:55"  # Tokyo time
    finally:
        monkeypatch.undo()
        time.tzset()


# --- filters -----------------------------------------------------------------------


@pytest.fixture
def varied(store: HistoryStore) -> dict[str, int]:
    """Six runs that differ in one way each; returns their row IDs by name."""
    return {
        "base": store.record(outcome(), plan_name="Nightly", user_name="Ada"),
        "other_profile": store.record(
            outcome(profile="qa-eu", started_at=T0 + timedelta(hours=1))
        ),
        "other_plan": store.record(
            outcome(plan_id=LONG_MAX, started_at=T0 + timedelta(hours=2))
        ),
        "other_user": store.record(
            outcome(user_id=99, started_at=T0 + timedelta(hours=3)),
            user_name="Grace Hopper",
        ),
        "auth": store.record(
            outcome(
                category=Category.AUTH,
                title="The token was refused",
                message="100% expired_token",
                started_at=T0 + timedelta(days=2),
            )
        ),
        "adhoc": store.record(
            outcome(
                profile=None,
                gateway_url="http://127.0.0.1:8080/queue",
                started_at=T0 + timedelta(days=3),
            )
        ),
    }


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (
            HistoryFilter(),
            ["adhoc", "auth", "other_user", "other_plan", "other_profile", "base"],
        ),
        (HistoryFilter(profile="qa-eu"), ["other_profile"]),
        (HistoryFilter(plan_id=LONG_MAX), ["other_plan"]),
        (HistoryFilter(user_id=99), ["other_user"]),
        (HistoryFilter(outcome=Category.AUTH), ["auth"]),
        (HistoryFilter(outcome="auth"), ["auth"]),
        (HistoryFilter(text="REFUSED"), ["auth"]),
        (HistoryFilter(text="100%"), ["auth"]),
        (HistoryFilter(text="d_t"), ["auth"]),
        (HistoryFilter(text="grace"), ["other_user"]),
        (HistoryFilter(text="nightly"), ["base"]),
        (HistoryFilter(text="127.0.0.1"), ["adhoc"]),
        (HistoryFilter(text="no such words"), []),
        (HistoryFilter(since=T0 + timedelta(days=2)), ["adhoc", "auth"]),
        (HistoryFilter(until=T0 + timedelta(hours=1)), ["base"]),
        (
            HistoryFilter(since=T0 + timedelta(hours=1), until=T0 + timedelta(days=2)),
            ["other_user", "other_plan", "other_profile"],
        ),
        (HistoryFilter(profile="staging", outcome="auth"), ["auth"]),
        (
            HistoryFilter(plan_id=42, user_id=7, profile="staging", outcome="queued"),
            ["base"],
        ),
        (HistoryFilter(plan_id=42, text="grace"), ["other_user"]),
    ],
)
def test_each_filter_narrows_to_the_matching_runs(
    store: HistoryStore,
    varied: dict[str, int],
    filters: HistoryFilter,
    expected: list[str],
) -> None:
    assert ids(store.page(filters)) == [varied[name] for name in expected]
    assert store.count(filters) == len(expected)


def test_naive_filter_times_are_local_time(
    store: HistoryStore, varied: dict[str, int]
) -> None:
    since_local = (T0 + timedelta(days=2)).astimezone().replace(tzinfo=None)
    assert ids(store.page(HistoryFilter(since=since_local))) == [
        varied["adhoc"],
        varied["auth"],
    ]


def test_unknown_outcome_name_is_an_input_error() -> None:
    with pytest.raises(InputError, match="Unknown outcome 'queueed'"):
        HistoryFilter(outcome="queueed")


def test_count_with_a_cap_stops_counting(store: HistoryStore) -> None:
    for n in range(30):
        store.record(outcome(started_at=T0 + timedelta(seconds=n)))
    assert store.count(HistoryFilter()) == 30
    assert store.count(HistoryFilter(), cap=10) == 10
    assert store.count(HistoryFilter(), cap=100) == 30


def test_profiles_lists_each_name_once_sorted(
    store: HistoryStore, varied: dict[str, int]
) -> None:
    assert store.profiles() == ["qa-eu", "staging"]


@pytest.mark.parametrize(
    "filters",
    [
        HistoryFilter(),
        HistoryFilter(plan_id=1),
        HistoryFilter(user_id=1),
        HistoryFilter(outcome="auth"),
        HistoryFilter(profile="x"),
        HistoryFilter(plan_id=1, outcome="auth", profile="x"),
        HistoryFilter(since=T0, until=T0),
        HistoryFilter(plan_id=1, since=T0),
    ],
)
def test_pages_are_read_from_an_index_in_order_without_sorting(
    store: HistoryStore, path: Path, filters: HistoryFilter
) -> None:
    for before in (None, (1, 2)):
        where, params = history._where(filters, before)
        plan = raw(
            path,
            f"EXPLAIN QUERY PLAN SELECT * FROM runs{where} "  # noqa: S608
            "ORDER BY started_at DESC, id DESC LIMIT 200",
            tuple(params),
        )
        details = " | ".join(str(step[-1]) for step in plan)
        assert "USING INDEX" in details
        assert "TEMP B-TREE" not in details
        if filters.plan_id is not None:
            assert "runs_by_plan" in details


# --- paging --------------------------------------------------------------------------


def test_keyset_pages_return_each_row_once_newest_first(store: HistoryStore) -> None:
    # Many runs share a start time: the row id breaks the tie.
    for n in range(103):
        store.record(outcome(started_at=T0 + timedelta(seconds=n // 10)))

    seen: list[HistoryRow] = []
    page = store.page(HistoryFilter(), limit=7)
    while page:
        seen.extend(page)
        page = store.page(HistoryFilter(), before=page[-1].cursor, limit=7)

    assert len(seen) == 103
    assert len(set(ids(seen))) == 103
    keys = [(row.started_at, row.id) for row in seen]
    assert keys == sorted(keys, reverse=True)


def test_keyset_pages_honour_filters(store: HistoryStore) -> None:
    for n in range(50):
        store.record(
            outcome(
                plan_id=1 + n % 2,
                started_at=T0 + timedelta(seconds=n // 3),
            )
        )
    rows = store.page(HistoryFilter(plan_id=2), limit=4)
    collected = list(rows)
    while len(rows) == 4:
        rows = store.page(HistoryFilter(plan_id=2), before=rows[-1].cursor, limit=4)
        collected.extend(rows)
    assert len(collected) == 25
    assert {row.plan_id for row in collected} == {2}
    assert len(set(ids(collected))) == 25


def test_iter_rows_yields_every_matching_row_across_pages(store: HistoryStore) -> None:
    def many() -> None:
        connection = sqlite3.connect(store.path)
        try:
            connection.executemany(
                "INSERT INTO runs (started_at, finished_at, gateway_url, plan_id, "
                "user_id, outcome, title, advice, duration_ms) "
                "VALUES (?, ?, 'g', ?, 1, 'queued', 't', 'a', 1)",
                [(n // 4, n // 4, 1 + n % 3) for n in range(2500)],
            )
            connection.commit()
        finally:
            connection.close()

    many()

    everything = list(iter_rows(store, HistoryFilter()))
    plan_two = list(iter_rows(store, HistoryFilter(plan_id=2)))

    assert len(everything) == 2500
    assert len(set(ids(everything))) == 2500
    assert len(plan_two) == len([n for n in range(2500) if n % 3 == 1])


def test_page_limit_is_checked(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.page(HistoryFilter(), limit=0)


# --- delete, clear, prune --------------------------------------------------------------


def test_delete_removes_one_row_and_tolerates_a_missing_one(
    store: HistoryStore,
) -> None:
    first = store.record(outcome())
    second = store.record(outcome())

    store.delete(first)
    store.delete(first)

    assert store.get(first) is None
    assert ids(store.page(HistoryFilter())) == [second]


def test_clear_removes_everything_and_counts_it(store: HistoryStore) -> None:
    for _ in range(5):
        store.record(outcome())
    assert store.clear() == 5
    assert store.count(HistoryFilter()) == 0
    assert store.clear() == 0


def test_row_ids_are_never_reused_after_a_delete(store: HistoryStore) -> None:
    first = store.record(outcome())
    store.delete(first)
    assert store.record(outcome()) > first


def test_prune_by_days_keeps_the_recent_runs(store: HistoryStore, clock: Clock) -> None:
    clock.now = T0 + timedelta(days=30)
    old = [store.record(outcome(started_at=T0 + timedelta(days=d))) for d in (0, 5, 19)]
    recent = [
        store.record(outcome(started_at=T0 + timedelta(days=d))) for d in (21, 29)
    ]

    assert store.prune(keep_days=10, keep_runs=None) == len(old)
    assert sorted(ids(store.page(HistoryFilter()))) == recent


def test_prune_by_count_keeps_the_newest_runs(store: HistoryStore) -> None:
    made = [
        store.record(outcome(started_at=T0 + timedelta(seconds=n // 2)))
        for n in range(10)
    ]

    assert store.prune(keep_days=None, keep_runs=3) == 7
    assert ids(store.page(HistoryFilter())) == made[-1:-4:-1]
    assert store.prune(keep_days=None, keep_runs=3) == 0


def test_prune_by_days_and_count_together(store: HistoryStore, clock: Clock) -> None:
    clock.now = T0 + timedelta(days=10)
    for d in range(10):
        store.record(outcome(started_at=T0 + timedelta(days=d)))

    assert store.prune(keep_days=5, keep_runs=2) == 8
    assert store.count(HistoryFilter()) == 2
    assert store.prune(keep_days=None, keep_runs=None) == 0


@pytest.mark.parametrize("batch", [1, 3, 4])
def test_prune_works_in_small_transactions_to_the_same_end(
    store: HistoryStore, clock: Clock, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(history, "PRUNE_BATCH", batch)
    clock.now = T0 + timedelta(days=20)
    made = [
        store.record(outcome(started_at=T0 + timedelta(days=d // 2))) for d in range(20)
    ]
    writes: list[str] = []
    write = store._write
    monkeypatch.setattr(
        store, "_write", lambda what, f: writes.append(what) or write(what, f)
    )

    # Days 0-4 go by age (10 runs); of the other 10, the newest 6 stay.
    assert store.prune(keep_days=15, keep_runs=6) == 14
    assert ids(store.page(HistoryFilter())) == made[-1:-7:-1]
    assert len(writes) >= 14 // batch
    assert store.prune(keep_days=15, keep_runs=6) == 0


def test_prune_refuses_nonsense(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="keep_days"):
        store.prune(keep_days=0, keep_runs=None)
    with pytest.raises(ValueError, match="keep_runs"):
        store.prune(keep_days=None, keep_runs=0)


# --- export ------------------------------------------------------------------------

NASTY = [
    '=HYPERLINK("http://evil.example","click")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\tleading tab",
    "\rleading return",
    "'already quoted",
    "Ünïcødé — 計画 🚀",
    'line one\nline two, with "quotes"',
]


@pytest.fixture
def nasty_rows(store: HistoryStore) -> list[HistoryRow]:
    for n, text in enumerate(NASTY):
        store.record(
            outcome(
                title=text,
                message=text,
                code=-5 if n == 0 else n,
                plan_id=LONG_MAX,
                started_at=T0 + timedelta(seconds=n),
                facts={"note": text},
            ),
            plan_name=text,
            user_name=None,
        )
    return store.page(HistoryFilter())


def test_csv_export_round_trips_and_defuses_formulas(
    nasty_rows: list[HistoryRow], tmp_path: Path
) -> None:
    target = tmp_path / "export.csv"
    with target.open("w", encoding="utf-8", newline="") as stream:
        assert export_csv(nasty_rows, stream) == len(NASTY)

    with target.open(encoding="utf-8", newline="") as stream:
        read = list(csv.DictReader(stream))

    assert tuple(read[0]) == CSV_FIELDS
    assert len(read) == len(NASTY)
    for row, cells in zip(nasty_rows, read, strict=True):
        for name in ("title", "message", "plan_name"):
            cell = cells[name]
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
            assert csv_unescape(cell) == getattr(row, name)
        assert cells["plan_id"] == str(LONG_MAX)
        assert int(cells["id"]) == row.id
        assert cells["user_name"] == ""
        assert json.loads(csv_unescape(cells["facts"])) == dict(row.facts)
        assert cells["started_at"] == row.started_at.isoformat(timespec="milliseconds")
    codes = {cells["code"] for cells in read}
    assert "-5" in codes  # a number is not a formula: written as it is


def test_json_export_round_trips_with_integer_ids(
    nasty_rows: list[HistoryRow],
) -> None:
    stream = io.StringIO()

    assert export_json(nasty_rows, stream) == len(NASTY)

    document = json.loads(stream.getvalue())
    assert document == [row.to_dict() for row in nasty_rows]
    assert all(type(item["plan_id"]) is int for item in document)
    assert document[0]["plan_id"] == LONG_MAX
    assert '"plan_id": 9223372036854775807' in stream.getvalue()


def test_exports_of_nothing_are_valid(tmp_path: Path) -> None:
    as_json = io.StringIO()
    as_csv = io.StringIO(newline="")
    assert export_json([], as_json) == 0
    assert export_csv([], as_csv) == 0
    assert json.loads(as_json.getvalue()) == []
    assert list(csv.reader(io.StringIO(as_csv.getvalue()))) == [list(CSV_FIELDS)]


# --- schema versions and damaged files ------------------------------------------------

V1_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    profile TEXT,
    gateway_url TEXT NOT NULL,
    plan_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER,
    code,
    message TEXT,
    title TEXT NOT NULL,
    advice TEXT NOT NULL,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX runs_started ON runs (started_at);
PRAGMA user_version = 1;
"""


def make_v1(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    try:
        connection.executescript(V1_SCHEMA)
        connection.executemany(
            "INSERT INTO runs (started_at, finished_at, profile, gateway_url, "
            "plan_id, user_id, outcome, http_status, code, message, title, advice, "
            "duration_ms) VALUES (?, ?, 'staging', 'https://g/queue', ?, 7, ?, "
            "?, ?, 'm', 't', 'a', 50)",
            [
                (to_epoch_ms(T0), to_epoch_ms(T0) + 50, LONG_MAX, "queued", 200, 0),
                (to_epoch_ms(T0) + 1000, to_epoch_ms(T0) + 1050, 5, "auth", 401, 1000),
            ],
        )
        connection.commit()
    finally:
        connection.close()


def test_version_1_file_is_backed_up_and_migrated_keeping_its_rows(
    path: Path, clock: Clock
) -> None:
    make_v1(path)

    with HistoryStore.open(path, clock=clock) as store:
        rows = store.page(HistoryFilter())
        added = store.record(outcome(), plan_name="After", user_name="Ada")
        notices = store.notices
        after = store.get(added)

    backup = path.with_name("history.sqlite3.v1.bak")
    assert backup.is_file()
    assert raw(backup, "PRAGMA user_version") == [(1,)]
    assert raw(backup, "SELECT plan_id FROM runs ORDER BY id") == [(LONG_MAX,), (5,)]
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert [(row.plan_id, row.outcome) for row in rows] == [
        (5, Category.AUTH),
        (LONG_MAX, Category.QUEUED),
    ]
    assert rows[0].plan_name is None
    assert rows[0].app_version is None
    assert dict(rows[0].facts) == {}
    assert after is not None
    assert after.plan_name == "After"
    assert any("v1.bak" in notice for notice in notices)
    indexes = {
        name
        for (name,) in raw(path, "SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    assert {"runs_by_time", "runs_by_plan", "runs_by_outcome"} <= indexes
    assert "runs_started" not in indexes


def test_opening_a_migrated_file_again_changes_nothing(
    path: Path, clock: Clock
) -> None:
    make_v1(path)
    HistoryStore.open(path, clock=clock).close()
    with HistoryStore.open(path, clock=clock) as store:
        assert store.notices == []
        assert store.count(HistoryFilter()) == 2


def test_file_from_a_newer_plan_runner_is_refused_and_left_untouched(
    path: Path,
) -> None:
    path.parent.mkdir(parents=True)
    connection = sqlite3.connect(path)
    connection.executescript(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, future TEXT);"
        "INSERT INTO runs (future) VALUES ('from tomorrow');"
    )
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    before = path.read_bytes()
    modified = path.stat().st_mtime_ns

    with pytest.raises(HistoryError, match="newer Plan Runner") as caught:
        HistoryStore.open(path)

    assert str(path) in str(caught.value)
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == modified
    assert sorted(p.name for p in path.parent.iterdir()) == ["history.sqlite3"]


def test_newer_file_with_unsaved_wal_pages_is_left_exactly_as_it_was(
    path: Path, tmp_path: Path
) -> None:
    # Copy a WAL-mode file while its writer is open: the WAL holds pages that a
    # read-write open would checkpoint into the main file on close.
    source = tmp_path / "source.sqlite3"
    writer = sqlite3.connect(source, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, future TEXT)")
    writer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    writer.executemany("INSERT INTO runs (future) VALUES (?)", [("x" * 900,)] * 50)
    path.parent.mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).write_bytes(
            source.with_name(source.name + suffix).read_bytes()
        )
    writer.close()
    # The -shm file is SQLite's shared-memory index, which every reader updates
    # (the newer Plan Runner's own too); the data is in the file and its WAL.
    data = ("history.sqlite3", "history.sqlite3-wal")
    before = {name: path.with_name(name).read_bytes() for name in data}

    with pytest.raises(HistoryError, match="newer Plan Runner"):
        HistoryStore.open(path)

    assert {name: path.with_name(name).read_bytes() for name in data} == before
    assert len(before["history.sqlite3-wal"]) > 40_000


def test_history_folder_that_cannot_be_made_is_a_history_error(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(HistoryError, match="cannot be created"):
        HistoryStore.open(blocker / "history.sqlite3")


def test_a_database_that_is_not_a_history_is_refused_and_left_untouched(
    path: Path,
) -> None:
    path.parent.mkdir(parents=True)
    connection = sqlite3.connect(path)
    connection.executescript("CREATE TABLE songs (title TEXT);")
    connection.close()
    before = path.read_bytes()

    with pytest.raises(HistoryError, match="not a Plan Runner history"):
        HistoryStore.open(path)

    assert path.read_bytes() == before


def test_garbage_file_is_moved_aside_with_its_wal_and_shm(
    path: Path, clock: Clock
) -> None:
    path.parent.mkdir(parents=True)
    garbage = os.urandom(8192)
    path.write_bytes(b"this is not a database" + garbage)
    path.with_name("history.sqlite3-wal").write_bytes(b"wal" + garbage)
    path.with_name("history.sqlite3-shm").write_bytes(b"shm")

    with HistoryStore.open(path, clock=clock) as store:
        row_id = store.record(outcome())
        assert store.get(row_id) is not None
        notices = store.notices

    aside = path.with_name("history.sqlite3.corrupt-20261102T093016Z")
    assert aside.read_bytes() == b"this is not a database" + garbage
    assert aside.with_name(aside.name + "-wal").read_bytes() == b"wal" + garbage
    assert aside.with_name(aside.name + "-shm").read_bytes() == b"shm"
    assert len(notices) == 1
    assert "damaged" in notices[0]
    assert str(aside) in notices[0]
    assert raw(path, "PRAGMA quick_check") == [("ok",)]


def test_truncated_database_is_moved_aside_and_a_new_one_started(
    path: Path, clock: Clock
) -> None:
    with HistoryStore.open(path, clock=clock) as store:
        for n in range(400):
            store.record(outcome(message="x" * 500, started_at=T0 + timedelta(n)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with HistoryStore.open(path, clock=clock) as store:
        assert store.count(HistoryFilter()) == 0
        assert "damaged" in store.notices[0]

    assert path.with_name("history.sqlite3.corrupt-20261102T093016Z").is_file()


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_the_history_started_after_a_damaged_one_is_private(
    path: Path, clock: Clock
) -> None:
    old_umask = os.umask(0o022)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not a database at all" * 100)
        with HistoryStore.open(path, clock=clock) as store:
            store.record(outcome())
            assert "damaged" in store.notices[0]
    finally:
        os.umask(old_umask)
    for suffix in ("", "-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            assert companion.stat().st_mode & 0o077 == 0, suffix


def test_second_damaged_file_in_the_same_second_gets_its_own_name(
    path: Path, clock: Clock
) -> None:
    for _ in range(2):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"garbage" * 100)
        HistoryStore.open(path, clock=clock).close()
        path.unlink()
    names = sorted(p.name for p in path.parent.iterdir() if "corrupt" in p.name)
    assert names == [
        "history.sqlite3.corrupt-20261102T093016Z",
        "history.sqlite3.corrupt-20261102T093016Z-2",
    ]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs modes")
def test_folder_that_cannot_be_written_is_a_history_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(HistoryError, match="cannot be"):
            HistoryStore.open(locked / "data" / "history.sqlite3")
    finally:
        locked.chmod(0o700)


# --- failures and concurrency -----------------------------------------------------------


def test_a_failing_write_raises_history_error(store: HistoryStore) -> None:
    connection = sqlite3.connect(store.path)
    connection.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON runs "
        "BEGIN SELECT RAISE(ABORT, 'the disk said no'); END"
    )
    connection.commit()
    connection.close()

    with pytest.raises(HistoryError, match="Could not save the run in the history"):
        store.record(outcome())
    assert store.count(HistoryFilter()) == 0


def test_a_closed_store_raises_history_error(path: Path) -> None:
    store = HistoryStore.open(path)
    store.close()
    store.close()
    with pytest.raises(HistoryError, match="closed"):
        store.record(outcome())
    with pytest.raises(HistoryError, match="closed"):
        store.page(HistoryFilter())


def test_a_write_waits_for_another_writer_instead_of_failing(
    store: HistoryStore,
) -> None:
    other = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    try:
        row_id = store.record(outcome())
    finally:
        release.join()
        other.close()
    assert store.get(row_id) is not None


def test_reads_do_not_wait_for_a_writer(store: HistoryStore) -> None:
    store.record(outcome())
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute(
        "INSERT INTO runs (started_at, finished_at, gateway_url, plan_id, user_id, "
        "outcome, title, advice, duration_ms) VALUES (1, 1, 'g', 1, 1, 'queued', "
        "'t', 'a', 1)"
    )
    try:
        assert store.count(HistoryFilter()) == 1
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_threads_can_record_and_read_at_once(store: HistoryStore) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for k in range(40):
                store.record(outcome(plan_id=n * 1000 + k))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    def read() -> None:
        try:
            for _ in range(40):
                store.page(HistoryFilter(), limit=50)
                store.count(HistoryFilter())
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, 5)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert store.count(HistoryFilter()) == 160
