"""The history of runs: one SQLite file that every face of the app writes to.

Each run attempt becomes one row. The file lives in the user's data folder and may
be written at the same time by two app windows and the command line, so every
write is a short ``BEGIN IMMEDIATE`` transaction that waits for the others rather
than failing, for :data:`BUSY_PATIENCE_S` at most: longer means that another
program keeps the file locked, and the error says so. :func:`check_file` and
:func:`repair_file` check the file on request, for support staff.

The schema is versioned with ``PRAGMA user_version``; a file from a newer Plan
Runner is left alone, and a damaged file is moved aside so that the app keeps
working.

Every open checks the file, in two tiers. The quick checks run each time and
cost the same on any size of file: the SQLite header, that the file is as long
as the header says, the schema and its version. The full check (``PRAGMA
quick_check``, which reads every page) costs about 470 ms at 1,000,000 runs
from the page cache, and seconds from a cold disk, so it runs only when it is
due:

- the file is small (:data:`SMALL_FILE_PAGES`), so that it costs little;
- no full check of this file is recorded, or the last one is more than
  :data:`CHECK_INTERVAL` old (or in the future: the clock was moved back);
- the previous session did not end cleanly: SQLite removes the ``-wal`` file
  when the last connection closes, so a ``-wal`` with content means that a
  process ended without closing, or that another one has the file open now.
  The header of that ``-wal`` is recorded with the full check, and SQLite
  writes a new one each time it starts the log afresh: a window and the
  command line sharing the file cost one full check per log, not one per
  command;
- SQLite reported damage while the file was in use (see below), or the caller
  asks for it (a support tool).

A full check that finds the file whole is recorded in the ``meta`` table. A
crash goes unnoticed when the ``-wal`` it leaves is one that the last full
check had already seen (another process had the file open throughout); the
daily check still finds damage at most :data:`CHECK_INTERVAL` after the last
good check.

Damage found by a query after the open ends in the same place: the query raises
:class:`~app.core.errors.HistoryError` with a message that says to restart, and
the store leaves a ``<file>.check-needed`` note beside the file. The next open
sees the note, runs ``PRAGMA integrity_check`` (which also finds indexes that no
longer match their table, which ``quick_check`` does not), and moves the damaged
file aside.

Times are stored as integer milliseconds since the Unix epoch, in UTC: exact,
compact and ordered. IDs are stored as SQLite integers (signed 64 bits), which
hold every ID the gateway accepts.

Rows are read defensively: a value someone edited by hand (a time that is text,
an ID that is not a whole number, facts that are not JSON) never stops a page
from being read. The row is shown with :data:`UNKNOWN_TIME` or ID 0 in place of
what cannot be read, and ``facts["unreadable"]`` says what was found instead.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO, TypeVar

from app import __version__
from app.core.errors import HistoryError, InputError
from app.core.outcome import Category, Outcome

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
"""The version of the file this code writes; older files are migrated to it."""

SMALL_FILE_PAGES = 2048
"""A file of at most this many pages gets the full check at every open.

``PRAGMA quick_check`` reads every page, at about 4.3 µs a page from a warm page
cache (measured from 230 to 115,000 pages of 4 KiB): 2,048 pages (8 MiB, about
18,000 runs) take about 9 ms, against 470 ms for 1,000,000 runs.
"""

CHECK_INTERVAL = timedelta(days=1)
"""The longest time between two full checks of a file that is in use."""

BUSY_PATIENCE_S = 3.0
"""How long one read, write or open waits in all for a file that is locked.

Plan Runner's own writes hold the file for milliseconds (one row, one fsync),
so a wait longer than this means another program keeps it locked: a database
browser, or an ``sqlite3`` shell with a transaction left open. Waiting for it
longer would only hold up the person; the run's outcome is shown either way.
"""

PRUNE_BATCH = 10_000
"""The most runs one pruning transaction deletes: about 0.2 s of holding the file."""

PAGE_LIMIT_MAX = 10_000

SortKey = int | float | str | bytes
"""A ``started_at`` as stored: epoch milliseconds, or whatever a hand edit left."""

Cursor = tuple[SortKey, int]
"""Where a page ends: ``(started_at as stored, row id)``; see
:attr:`HistoryRow.cursor`."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_T = TypeVar("_T")

UNKNOWN_TIME = _EPOCH
"""Stands for a stored time that cannot be read; shown as unknown."""

UNREADABLE = "unreadable"
"""The key of the fact that lists the stored values that could not be read."""

# Version 2 as created from scratch. ``code`` has no declared type on purpose: a
# column without affinity stores what it is given, so an application code too
# large for 64 bits can be kept exactly as its digits instead of becoming a float.
_CREATE_V2 = (
    """
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
        duration_ms INTEGER NOT NULL,
        plan_name TEXT,
        user_name TEXT,
        app_version TEXT,
        facts TEXT NOT NULL DEFAULT '{}'
    )
    """,
)

# Every index ends in started_at so that a filtered page is read newest first
# straight from the index; SQLite appends the row id to each index entry, which
# makes (…, started_at, id) the order of the keyset pagination.
_INDEXES_V2 = (
    "CREATE INDEX runs_by_time ON runs (started_at DESC, id DESC)",
    "CREATE INDEX runs_by_plan ON runs (plan_id, started_at)",
    "CREATE INDEX runs_by_user ON runs (user_id, started_at)",
    "CREATE INDEX runs_by_outcome ON runs (outcome, started_at)",
    "CREATE INDEX runs_by_profile ON runs (profile, started_at)",
)

# Version 3 adds facts about the file itself, one value per key: the time of the
# last full check that found the file whole (_FULL_CHECK_AT, epoch ms) and the
# header of the -wal file seen then (_FULL_CHECK_WAL, a blob, or NULL for none).
_CREATE_V3 = ("CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value)",)
_FULL_CHECK_AT = "full_check_at"
_FULL_CHECK_WAL = "full_check_wal"

# Migrations: the statements that take a file from version N to N + 1. Version 1
# had the run itself (times, profile, gateway, IDs, outcome, status, code,
# message, title, advice, duration) and one index on started_at.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE runs ADD COLUMN plan_name TEXT",
        "ALTER TABLE runs ADD COLUMN user_name TEXT",
        "ALTER TABLE runs ADD COLUMN app_version TEXT",
        "ALTER TABLE runs ADD COLUMN facts TEXT NOT NULL DEFAULT '{}'",
        "DROP INDEX IF EXISTS runs_started",
        *_INDEXES_V2,
    ),
    2: _CREATE_V3,
}

_COLUMNS = (
    "id, started_at, finished_at, profile, gateway_url, plan_id, plan_name, "
    "user_id, user_name, outcome, http_status, code, message, title, advice, "
    "duration_ms, app_version, facts"
)
_TEXT_COLUMNS = ("title", "message", "plan_name", "user_name", "gateway_url")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class HistoryFilter:
    """Which runs to show; every field left as None matches everything.

    Attributes:
        profile: The profile's name, exactly.
        plan_id: The plan ID.
        user_id: The user ID.
        outcome: A :class:`Category` or its value (``"queued"``, ``"auth"`` …).
        text: Words to find in the title, message, plan or user name, or gateway
            URL (case-insensitive for ASCII letters).
        since: Runs started at or after this time. A naive time is local time.
        until: Runs started before this time. A naive time is local time.
    """

    profile: str | None = None
    plan_id: int | None = None
    user_id: int | None = None
    outcome: Category | str | None = None
    text: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        """Check the outcome's name and the texts, so that a typo is an error.

        Raises:
            InputError: The outcome has no such name, or a text is not valid
                Unicode (undecodable bytes from the command line).
        """
        for what, value in (("profile", self.profile), ("text", self.text)):
            if value is not None and not _is_encodable(value):
                raise InputError(
                    f"The {what} filter holds bytes that are not valid text in "
                    "this system's encoding; type it again."
                )
        if self.outcome is not None and not isinstance(self.outcome, Category):
            try:
                object.__setattr__(self, "outcome", Category(self.outcome))
            except ValueError:
                names = ", ".join(category.value for category in Category)
                raise InputError(
                    f"Unknown outcome {self.outcome!r}; use one of: {names}."
                ) from None


@dataclass(frozen=True)
class HistoryRow:
    """One recorded run.

    Values that cannot be read from the file are replaced (see the module's
    docstring) and listed in ``facts["unreadable"]``.

    Attributes:
        id: The row's ID in the history.
        started_at: When the run started (aware, UTC); :data:`UNKNOWN_TIME` when
            the stored value is not a time.
        finished_at: When its outcome was recorded (aware, UTC), or
            :data:`UNKNOWN_TIME`.
        profile: The profile's name, or None for an ad-hoc gateway.
        gateway_url: Where the request went.
        plan_id, plan_name: The plan (0 when the stored value is not a whole
            number), and its catalogue name at the time.
        user_id, user_name: The user (0 likewise), and its catalogue name.
        outcome: See :class:`~app.core.outcome.Category`.
        http_status: The HTTP status, when an answer came.
        code: The application code, when the answer had one.
        message: The gateway's message, as sent.
        title: The one-line verdict.
        advice: What to do next.
        duration_ms: How long the run took.
        app_version: The Plan Runner version that made the run.
        facts: Facts for diagnosis, already redacted (a read-only mapping; rows
            read from the file decode it on first use).
        sort_key: ``started_at`` exactly as stored, for :attr:`cursor`; None
            for a row not read from the file.
    """

    id: int
    started_at: datetime
    finished_at: datetime
    profile: str | None
    gateway_url: str
    plan_id: int
    plan_name: str | None
    user_id: int
    user_name: str | None
    outcome: Category
    http_status: int | None
    code: int | None
    message: str | None
    title: str
    advice: str
    duration_ms: int
    app_version: str | None
    facts: Mapping[str, str]
    sort_key: SortKey | None = field(default=None, repr=False, compare=False)

    @property
    def cursor(self) -> Cursor:
        """Return the keyset position of this row, for ``page(before=...)``.

        It holds the stored value, not the time read from it, so that a row
        whose time could not be read still keeps its place in the file's order.
        """
        if self.sort_key is not None:
            return (self.sort_key, self.id)
        return (to_epoch_ms(self.started_at), self.id)

    @property
    def started_text(self) -> str:
        """When the run started, in this machine's time zone, to the second.

        "unknown" when the stored time could not be read.
        """
        if self.started_at == UNKNOWN_TIME:
            return "unknown"
        return _local(self.started_at).strftime("%Y-%m-%d %H:%M:%S")

    def summary(self) -> str:
        """Return a short plain-text summary to paste into a chat or a ticket."""
        status = "no answer" if self.http_status is None else f"HTTP {self.http_status}"
        code = "" if self.code is None else f", code {self.code}"
        message = "" if not self.message else f" ({self.message})"
        local = (
            "at an unknown time"
            if self.started_at == UNKNOWN_TIME
            else _local(self.started_at).isoformat(sep=" ", timespec="seconds")
        )
        return "\n".join(
            [
                self.title,
                f"Plan {_named(self.plan_id, self.plan_name)}, "
                f"user {_named(self.user_id, self.user_name)}, "
                f"profile {self.profile or '(none)'}, {self.gateway_url}",
                f"Outcome: {self.outcome.value}; {status}{code}{message}; "
                f"{self.duration_ms} ms; started {local}",
                f"Next: {self.advice}",
                f"Plan Runner {self.app_version or 'unknown version'}, "
                f"history entry {self.id}",
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the row as plain JSON-ready data; IDs stay integers."""
        return {
            "id": self.id,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "profile": self.profile,
            "gateway_url": self.gateway_url,
            "plan_id": self.plan_id,
            "plan_name": self.plan_name,
            "user_id": self.user_id,
            "user_name": self.user_name,
            "outcome": self.outcome.value,
            "http_status": self.http_status,
            "code": self.code,
            "message": self.message,
            "title": self.title,
            "advice": self.advice,
            "duration_ms": self.duration_ms,
            "app_version": self.app_version,
            "facts": dict(self.facts),
        }


class HistoryStore:
    """The SQLite history of runs, safe to share between threads and processes.

    Open it with :meth:`open`. Writes (``record``, ``delete``, ``clear``,
    ``prune``) go through one connection and reads through another, each behind
    its own lock, so a write waiting for another process never holds up a page
    being read on the GUI thread.

    Attributes:
        path: The database file.
        notices: What the user should be told after opening (a damaged file that
            was moved aside, a migration), in words for a person.
        full_check_reason: Why the whole file was checked when it was opened,
            in words for a log; None when only the quick checks were due (see
            the module's docstring).
    """

    def __init__(
        self,
        path: Path,
        writer: sqlite3.Connection,
        reader: sqlite3.Connection,
        clock: Callable[[], datetime],
        notices: list[str],
        *,
        full_check_reason: str | None = None,
        patience: float = BUSY_PATIENCE_S,
    ) -> None:
        self.path = path
        self.notices = notices
        self.full_check_reason = full_check_reason
        self._patience = patience
        self._writer: sqlite3.Connection | None = writer
        self._reader: sqlite3.Connection | None = reader
        self._clock = clock
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        clock: Callable[[], datetime] | None = None,
        full_check: bool = False,
        patience: float = BUSY_PATIENCE_S,
        progress: Callable[[str], None] | None = None,
    ) -> HistoryStore:
        """Open the history file, creating, migrating or replacing it as needed.

        The file is checked first. Damaged indexes are built again from the
        runs; other damage moves the file aside and starts a new history with
        every run that can still be read from it. The whole file is read only
        when a full check is due (see the module's docstring) or asked for.

        Args:
            path: The database file; its folder is created when missing.
            clock: The current time in UTC (tests pass a fixed one).
            full_check: Check the whole file whether or not it is due (for
                support tools). It takes about 0.5 s per 1,000,000 runs when
                the file is in the page cache, several seconds when it is not.
            patience: How long opening, and later each read or write, waits in
                all while another program keeps the file locked.
            progress: Told, in words for a person, when damage was found and
                what is kept of the file is being rebuilt or copied, which
                takes seconds on a large history.

        Returns:
            The open store. Its :attr:`notices` say what happened on the way,
            and its :attr:`full_check_reason` whether the whole file was read.

        Raises:
            HistoryError: The file cannot be used: it belongs to a newer Plan
                Runner, it is not a history file, the folder is not writable, or
            another program kept the file locked for longer than ``patience``.
        """
        path = Path(path)
        now = clock or _utc_now
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Only its owner may read a new history (SQLite gives the -wal and
            # -shm files the same mode); a 0-byte file is an empty database.
            _create_private(path)
        except OSError as error:
            raise HistoryError(
                f"The history file {path} cannot be created "
                f"({error.strerror or error}). Check that you may write there."
            ) from None
        notices: list[str] = []
        try:
            writer, reader, reason = _connect(
                path, notices, now(), full_check, patience
            )
        except _DamagedError as damage:
            try:
                notices.append(_recover(path, damage, now(), patience, progress))
                _create_private(path)  # owner-only, like a first history
                writer, reader, reason = _connect(
                    path, notices, now(), full_check, patience
                )
            except OSError as error:
                raise HistoryError(
                    f"A new history file could not be started at {path} "
                    f"({error.strerror or error})."
                ) from None
            except _DamagedError as again:
                raise HistoryError(
                    f"A new history file could not be started at {path} ({again})."
                ) from None
        return cls(
            path,
            writer,
            reader,
            now,
            notices,
            full_check_reason=reason,
            patience=patience,
        )

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def record(
        self,
        outcome: Outcome,
        *,
        plan_name: str | None = None,
        user_name: str | None = None,
    ) -> int:
        """Store the outcome of one run; return its row ID.

        Raises:
            HistoryError: The row could not be written.
        """
        started = outcome.started_at
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        facts = json.dumps(
            {str(key): str(value) for key, value in outcome.facts.items()},
            ensure_ascii=False,
            sort_keys=True,
        )
        values = (
            to_epoch_ms(started),
            to_epoch_ms(self._clock()),
            outcome.profile,
            outcome.gateway_url,
            outcome.plan_id,
            outcome.user_id,
            outcome.category.value,
            outcome.http_status,
            _code_to_db(outcome.code),
            outcome.message,
            outcome.title,
            outcome.advice,
            outcome.duration_ms,
            plan_name,
            user_name,
            __version__,
            facts,
        )

        def insert(connection: sqlite3.Connection) -> int:
            cursor = connection.execute(
                "INSERT INTO runs (started_at, finished_at, profile, gateway_url, "
                "plan_id, user_id, outcome, http_status, code, message, title, "
                "advice, duration_ms, plan_name, user_name, app_version, facts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            return int(cursor.lastrowid or 0)

        row_id = self._write("save the run in", insert)
        log.debug("Recorded run %s in the history", row_id)
        return row_id

    def page(
        self,
        filters: HistoryFilter,
        *,
        before: Cursor | None = None,
        limit: int = 200,
    ) -> list[HistoryRow]:
        """Return up to ``limit`` matching runs, newest first.

        Args:
            filters: Which runs.
            before: The :attr:`HistoryRow.cursor` of the last row of the previous
                page; the page starts right after it. None starts at the newest.
            limit: The page size, 1 to 10,000.

        Raises:
            HistoryError: The file cannot be read.
        """
        if not 1 <= limit <= PAGE_LIMIT_MAX:
            raise ValueError(f"limit must be between 1 and {PAGE_LIMIT_MAX}")
        where, params = _where(filters, before)
        sql = (
            f"SELECT {_COLUMNS} FROM runs{where} "  # noqa: S608 - fixed SQL, bound values
            "ORDER BY started_at DESC, id DESC LIMIT ?"
        )
        rows = self._read(sql, (*params, limit))
        return [_row(values) for values in rows]

    def count(self, filters: HistoryFilter, *, cap: int | None = None) -> int:
        """Return how many runs match, counting at most ``cap`` when given.

        A cap keeps a count with a text filter quick on a large history: the
        caller shows "10,000+" rather than making the user wait.
        """
        where, params = _where(filters, None)
        if cap is None:
            sql = f"SELECT count(*) FROM runs{where}"  # noqa: S608
            rows = self._read(sql, params)
        else:
            sql = f"SELECT count(*) FROM (SELECT 1 FROM runs{where} LIMIT ?)"  # noqa: S608
            rows = self._read(sql, (*params, max(cap, 0)))
        return int(rows[0][0])

    def get(self, row_id: int) -> HistoryRow | None:
        """Return one run by its row ID, or None when there is no such row."""
        if not _INT64_MIN <= row_id <= _INT64_MAX:
            return None
        rows = self._read(
            f"SELECT {_COLUMNS} FROM runs WHERE id = ?",  # noqa: S608
            (row_id,),
        )
        return _row(rows[0]) if rows else None

    def profiles(self, limit: int = 200) -> list[str]:
        """Return the profile names found in the history, sorted.

        Each name is one index lookup, so this stays quick on a large history.
        """
        names: list[str] = []
        last: object = ""
        while len(names) < limit:
            rows = self._read(
                "SELECT min(profile) FROM runs WHERE profile > ?", (last,)
            )
            if not rows or rows[0][0] is None:
                break
            last = rows[0][0]
            names.append(_text(last))
        return names

    def delete(self, row_id: int) -> None:
        """Delete one run; a row that is already gone is not an error."""

        def remove(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM runs WHERE id = ?", (row_id,))

        self._write("delete a run from", remove)

    def clear(self) -> int:
        """Delete every run; return how many there were."""

        def remove_all(connection: sqlite3.Connection) -> int:
            return connection.execute("DELETE FROM runs").rowcount

        removed = self._write("clear", remove_all)
        log.info("Cleared the history: %s runs", removed)
        return removed

    def prune(self, keep_days: int | None, keep_runs: int | None) -> int:
        """Delete runs older than ``keep_days`` and beyond the newest ``keep_runs``.

        Args:
            keep_days: Keep runs started in the last this many days; None keeps
                any age.
            keep_runs: Keep at most this many of the newest runs; None keeps
                any number.

        Returns:
            How many runs were deleted.
        """
        if keep_days is not None and keep_days < 1:
            raise ValueError("keep_days must be 1 or more")
        if keep_runs is not None and keep_runs < 1:
            raise ValueError("keep_runs must be 1 or more")
        oldest = (
            None
            if keep_days is None
            else to_epoch_ms(self._clock() - timedelta(days=keep_days))
        )

        def remove_some(connection: sqlite3.Connection) -> int:
            # At most PRUNE_BATCH rows a transaction: a run finishing meanwhile
            # (in this process or another) waits for one batch, not the whole.
            removed = 0
            if oldest is not None:
                removed += connection.execute(
                    "DELETE FROM runs WHERE id IN (SELECT id FROM runs "
                    "WHERE started_at < ? LIMIT ?)",
                    (oldest, PRUNE_BATCH),
                ).rowcount
            if keep_runs is not None and removed < PRUNE_BATCH:
                last_kept = connection.execute(
                    "SELECT started_at, id FROM runs "
                    "ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET ?",
                    (keep_runs - 1,),
                ).fetchone()
                if last_kept is not None:
                    removed += connection.execute(
                        "DELETE FROM runs WHERE id IN (SELECT id FROM runs "
                        "WHERE (started_at, id) < (?, ?) LIMIT ?)",
                        (*last_kept, PRUNE_BATCH - removed),
                    ).rowcount
            return removed

        removed = 0
        while True:
            batch = self._write("prune", remove_some)
            removed += batch
            if batch < PRUNE_BATCH:
                break
        if removed:
            log.info("Pruned %s runs from the history", removed)
        return removed

    def close(self) -> None:
        """Close the file; the store cannot be used afterwards."""
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def _read(self, sql: str, params: Iterable[object]) -> list[Any]:
        with self._read_lock:
            if self._reader is None:
                raise HistoryError("The history is closed.")
            try:
                return self._reader.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as error:
                raise self._failure(error, "read") from error

    def _write(self, doing: str, action: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._write_lock:
            if self._writer is None:
                raise HistoryError("The history is closed.")
            try:
                return _in_write_transaction(
                    self._writer, action, _deadline(self._patience)
                )
            except sqlite3.Error as error:
                raise self._failure(error, doing) from error
            except OverflowError as error:
                raise HistoryError(
                    f"Could not {doing} the history: a number is too large to store "
                    f"({error})."
                ) from error

    def _failure(self, error: sqlite3.Error, doing: str) -> HistoryError:
        """Return the error to raise for ``error`` met while ``doing`` something.

        Damage gets a note beside the file, so that the next open checks the
        whole file and moves it aside, as the message promises.
        """
        if _is_damage(error):
            _note_damage(self.path, error, self._clock())
        return HistoryError(_explain(error, doing, self.path, self._patience))


class FileState(Enum):
    """What a check found in a history file (see :func:`check_file`)."""

    MISSING = "missing"
    """There is no history file yet."""
    WHOLE = "whole"
    """The checks found nothing wrong."""
    INDEXES_DAMAGED = "indexes_damaged"
    """The runs are whole, but some indexes no longer match them."""
    DAMAGED = "damaged"
    """The runs themselves, or the file's structure, are damaged."""


@dataclass(frozen=True)
class FileCheck:
    """The result of :func:`check_file`.

    Attributes:
        path: The file checked.
        state: What was found.
        thorough: Whether ``PRAGMA integrity_check`` ran (which compares every
            index with its table), rather than ``quick_check``.
        problems: What SQLite reported, its first lines; empty when whole.
        indexes: The indexes named as not matching their table.
        pages: The file's size in pages (0 when it could not be read).
        seconds: How long the check took.
    """

    path: Path
    state: FileState
    thorough: bool
    problems: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()
    pages: int = 0
    seconds: float = 0.0


# The lines of integrity_check that mean "an index does not match its table",
# and nothing else: the table's own b-tree was read whole to produce them.
_INDEX_PROBLEM = re.compile(
    r"(?:row \d+ missing from index|wrong # of entries in index"
    r"|non-unique entry in index) (\w+)"
)


def _known_version(
    checker: sqlite3.Connection,
    path: Path,
    deadline: _Deadline,
    *,
    newer: str,
    foreign: str,
) -> int:
    """Return the file's history version; refuse a newer one or another database.

    ``newer`` and ``foreign`` end the message of each refusal.
    """
    version = _with_retries(
        checker,
        lambda: int(checker.execute("PRAGMA user_version").fetchone()[0]),
        deadline,
    )
    if version > SCHEMA_VERSION:
        raise HistoryError(
            f"The history file {path} was written by a newer Plan Runner (history "
            f"version {version}; this one knows up to {SCHEMA_VERSION}). {newer}"
        )
    if version == 0 and _has_tables(checker):
        raise HistoryError(
            f"{path} is a database, but not a Plan Runner history.{foreign}"
        )
    return version


def check_file(
    path: Path, *, thorough: bool = False, patience: float = BUSY_PATIENCE_S
) -> FileCheck:
    """Check the history file without changing it, for support staff.

    ``quick_check`` reads every page and checks the structure; it does not
    compare the indexes with the runs, which ``integrity_check`` (``thorough``)
    does. A note of damage left by the app makes the check thorough.

    Raises:
        HistoryError: The file cannot be checked: another program keeps it
            locked, it is from a newer Plan Runner, or it is not a history.
    """
    path = Path(path)
    if not path.exists():
        return FileCheck(path, FileState.MISSING, thorough)
    thorough = thorough or _damage_note(path).exists()
    started = time.perf_counter()
    deadline = _deadline(patience)
    try:
        _check_header(path)
        checker = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except _DamagedError as damage:
        return FileCheck(path, FileState.DAMAGED, thorough, (str(damage),))
    except sqlite3.Error as error:
        raise HistoryError(_explain(error, "check", path, patience)) from error
    pages = 0
    indexes: tuple[str, ...] | None = None
    try:
        _known_version(
            checker, path, deadline, newer="Check it with that version.", foreign=""
        )
        pages = _with_retries(checker, lambda: _quick_checks(checker)[0], deadline)
        pragma = "integrity_check" if thorough else "quick_check"
        lines = _problems(checker, pragma, deadline, limit=100)
        if lines != ["ok"]:
            indexes = _indexes_holding(checker, lines)
    except sqlite3.DatabaseError as error:
        if not _is_damage(error):
            raise HistoryError(_explain(error, "check", path, patience)) from error
        lines = [str(error)]
    finally:
        checker.close()
    seconds = time.perf_counter() - started
    if lines == ["ok"]:
        return FileCheck(path, FileState.WHOLE, thorough, (), (), pages, seconds)
    if indexes:
        state = FileState.INDEXES_DAMAGED
    else:
        indexes, state = (), FileState.DAMAGED
    return FileCheck(path, state, thorough, tuple(lines), indexes, pages, seconds)


def _problems(
    checker: sqlite3.Connection, pragma: str, deadline: _Deadline, limit: int = 0
) -> list[str]:
    """Run ``PRAGMA quick_check`` or ``integrity_check``; return its lines.

    ``integrity_check`` stops with an error, rather than a report, when
    comparing an index with its table meets a damaged page of the index;
    ``quick_check`` then still says where the damage lies.

    Returns:
        ``["ok"]`` when the file is whole, else one problem a line.

    Raises:
        sqlite3.DatabaseError: Neither check could report.
    """
    argument = f"({limit})" if limit else ""

    def run(check: str) -> list[str]:
        return _problem_lines(
            _with_retries(
                checker,
                lambda: checker.execute(f"PRAGMA {check}{argument}").fetchall(),
                deadline,
            )
        )

    try:
        return run(pragma)
    except sqlite3.DatabaseError as error:
        if pragma != "integrity_check" or not _is_damage(error):
            raise
        log.info("The integrity_check stopped (%s); running the quick_check", error)
        lines = run("quick_check")
        return [str(error)] if lines == ["ok"] else lines


def _problem_lines(rows: Iterable[tuple[Any, ...]]) -> list[str]:
    """Return the problems of a check's result, one a line.

    SQLite reports the problems of one b-tree as one row of several lines,
    headed by the name of the database.
    """
    lines = [
        line.strip()
        for row in rows
        for line in str(row[0]).splitlines()
        if line.strip() and not line.startswith("*** in database ")
    ]
    return lines or ["ok"]


# Where a check's line places a problem inside a b-tree: "Tree 6 page 23 ..."
# (SQLite 3.43 on) names the tree by its root page; older versions name only
# the page ("On tree page 23 cell 4: ...", "Page 23: btreeInitPage() ...").
_TREE_ROOT = re.compile(r"\bTree (\d+) page \d+")
_PAGE = re.compile(r"\b[Pp]age (\d+)\b")


def _indexes_holding(
    connection: sqlite3.Connection, lines: Iterable[str]
) -> tuple[str, ...] | None:
    """Return the indexes that every problem of a check lies in, when it does.

    An index is built again from its table, so damage confined to indexes
    loses no run. A line that names a damaged page is placed through the root
    pages in the schema, or else through the ``dbstat`` table (where SQLite
    has it), which lists the pages of each b-tree.

    Returns:
        The indexes' names, sorted; None when a problem lies in a table, in no
        b-tree ("never used"), or where this cannot tell.
    """
    try:
        roots = {
            int(root): (str(name), str(kind))
            for name, kind, root in connection.execute(
                "SELECT name, type, rootpage FROM sqlite_master "
                "WHERE type IN ('table', 'index') AND rootpage > 0"
            )
        }
    except sqlite3.DatabaseError as error:
        log.debug("The schema cannot be read to place the damage: %s", error)
        return None
    index_names = {name for name, kind in roots.values() if kind == "index"}
    found: set[str] = set()
    pages: set[int] = set()
    for line in lines:
        if (named := _INDEX_PROBLEM.search(line)) is not None:
            found.add(named.group(1))
        elif (tree := _TREE_ROOT.search(line)) is not None:
            name, kind = roots.get(int(tree.group(1)), ("", "table"))
            if kind != "index":
                return None
            found.add(name)
        elif (page := _PAGE.search(line)) is not None and "never used" not in line:
            pages.add(int(page.group(1)))
        else:
            return None
    for name in sorted(index_names):
        if not pages:
            break
        try:
            held = {
                int(row[0])
                for row in connection.execute(
                    "SELECT pageno FROM dbstat WHERE name = ?", (name,)
                )
            }
        except sqlite3.DatabaseError as error:
            log.debug("The pages of %s cannot be listed: %s", name, error)
            return None
        if held & pages:
            found.add(name)
            pages -= held
    if pages or not found or not found <= index_names:
        return None
    return tuple(sorted(found))


def repair_file(
    found: FileCheck,
    *,
    clock: Callable[[], datetime] | None = None,
    patience: float = BUSY_PATIENCE_S,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Repair what :func:`check_file` found; return what was done, for a person.

    Damage that lies only in indexes is repaired in place: the indexes are
    built again from the runs, which loses nothing, and a full check confirms
    it. Any other damage, or a rebuild that the check does not confirm, gets
    what the app does when it opens a damaged file: the file is moved aside
    (kept for support) and a new history is started with every run that can
    still be read from it. Either way the file must be Plan Runner's alone
    while it is repaired.

    Args:
        found: What the check found.
        clock: The current time in UTC, for the name of the moved file.
        patience: How long to wait for a file that another program keeps
            locked.
        progress: Told, in words for a person, what is being done before a
            step that takes seconds on a large history.

    Raises:
        HistoryError: Another program (or a Plan Runner window) has the file
            open, or it could not be repaired or moved.
    """
    path = found.path
    now = (clock or _utc_now)()
    if found.state in (FileState.MISSING, FileState.WHOLE):
        return "Nothing to repair."
    if found.state is FileState.INDEXES_DAMAGED:
        _tell(progress, _REBUILDING)
        if _rebuilt(path, found.indexes, patience, alone=True):
            return (
                f"Rebuilt the indexes {', '.join(found.indexes)} from the runs; "
                "a full check now finds the history whole. No run was lost."
            )
    else:
        _make_sure_alone(path, patience)
    _tell(progress, _COPYING)
    return _start_again_with_what_reads(path, now, patience)


_REBUILDING = "The history's indexes are damaged; building them again from the runs…"
_COPYING = (
    "The history file is damaged; copying the runs that can still be read into "
    "a new history…"
)


def _tell(progress: Callable[[str], None] | None, words: str) -> None:
    log.info("%s", words)
    if progress is not None:
        progress(words)


def _recover(
    path: Path,
    damage: _DamagedError,
    now: datetime,
    patience: float,
    progress: Callable[[str], None] | None,
) -> str:
    """Keep what can be kept of a file that the open found damaged.

    Damage that lies only in indexes is repaired in place. Otherwise the file
    is moved aside and a new history starts with the runs that can be read.

    Returns:
        What happened, in one or two sentences for a person; SQLite's own
        account goes to the log only.

    Raises:
        HistoryError: The file could not be moved aside.
    """
    log.warning("The history %s is damaged: %s", path, _capped(damage.lines))
    if damage.indexes:
        _tell(progress, _REBUILDING)
        if _rebuilt(path, damage.indexes, patience, alone=False):
            return (
                "The history's indexes were damaged and have been built again "
                "from the runs; no run was lost."
            )
    _tell(progress, _COPYING)
    return _start_again_with_what_reads(path, now, patience)


def _capped(lines: Iterable[str], shown: int = 3) -> str:
    """Return the first few of SQLite's lines, and how many more there are."""
    lines = list(lines)
    words = "; ".join(lines[:shown])
    if len(lines) > shown:
        words += f" (and {len(lines) - shown} more)"
    return words


def _rebuilt(path: Path, names: Iterable[str], patience: float, *, alone: bool) -> bool:
    """Build the named indexes again; return whether a full check then passes.

    ``alone`` asks for the file to be Plan Runner's alone (a repair by a
    support tool); otherwise other connections may keep it open meanwhile.

    Raises:
        HistoryError: ``alone`` was asked for, and another connection has the
            file open or holds it locked.
    """
    try:
        _rebuild_indexes(path, names, patience, alone=alone)
        again = check_file(path, thorough=True, patience=patience)
    except sqlite3.DatabaseError as error:
        if alone and not _is_damage(error):
            raise HistoryError(_explain(error, "repair", path, patience)) from error
        log.warning("Building the indexes of %s again failed: %s", path, error)
        return False
    except HistoryError as error:
        if alone:
            raise
        log.warning("Building the indexes of %s again failed: %s", path, error)
        return False
    if again.state is not FileState.WHOLE:
        log.warning(
            "After its indexes were built again, %s is still damaged: %s",
            path,
            _capped(again.problems),
        )
        return False
    _damage_note(path).unlink(missing_ok=True)
    log.info("Built the indexes %s of %s again", ", ".join(sorted(names)), path)
    return True


def _make_sure_alone(path: Path, patience: float) -> None:
    """Check that no other connection has ``path`` open.

    An exclusive lock in exclusive locking mode is only granted when no other
    connection, in any process, has the file open.

    Raises:
        HistoryError: Another program or Plan Runner has it open.
    """
    try:
        connection = _exclusive_connection(path, patience)
    except sqlite3.DatabaseError as error:
        if _is_damage(error):
            return  # too damaged to lock; nothing can be using it either
        raise
    connection.close()


def _exclusive_connection(path: Path, patience: float) -> sqlite3.Connection:
    """Return a connection that holds ``path`` alone, in a write transaction.

    Raises:
        HistoryError: Another connection kept the file open for ``patience``.
        sqlite3.DatabaseError: SQLite found damage.
    """
    connection = sqlite3.connect(path, timeout=patience, isolation_level=None)
    try:
        connection.execute("PRAGMA locking_mode = EXCLUSIVE")
        connection.execute("BEGIN EXCLUSIVE")
    except sqlite3.DatabaseError as error:
        connection.close()
        if _primary_code(error) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise HistoryError(
                f"Could not repair the history: {path} is open in another program "
                "or in Plan Runner. Close every Plan Runner window and any program "
                "that has the file open, then try again."
            ) from error
        raise
    return connection


def _rebuild_indexes(
    path: Path, names: Iterable[str], patience: float, *, alone: bool = True
) -> None:
    """Build the named indexes again from their tables, in one transaction.

    Plan Runner's own indexes are dropped and created from their definitions
    in this module, so that one whose definition was changed comes back as
    it should be; any other is rebuilt with REINDEX. ``alone`` holds the file
    exclusively; otherwise an ordinary write transaction leaves other
    connections reading meanwhile.
    """
    known = {
        statement.split()[2]: statement
        for statement in _INDEXES_V2
        if statement.startswith("CREATE INDEX ")
    }
    if alone:
        connection = _exclusive_connection(path, patience)
    else:
        connection = sqlite3.connect(path, timeout=patience, isolation_level=None)
    try:
        if not alone:
            connection.execute("BEGIN IMMEDIATE")
        try:
            for name in names:
                if name in known:
                    connection.execute(f'DROP INDEX IF EXISTS "{name}"')
                    connection.execute(known[name])
                else:
                    connection.execute(f'REINDEX "{name}"')
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
    finally:
        connection.close()


# --- salvage: a new history from the runs of a damaged one --------------------------

SALVAGE_BATCH = 20_000
"""The most runs read at once from a damaged file.

A read that meets damage returns nothing, so the batch is halved until the
run that cannot be read is found.
"""


@dataclass(frozen=True)
class _Salvage:
    """What was copied from a damaged history into a new one.

    Attributes:
        kept: The runs copied.
        lost: The runs that could not be read or stored, or None when the
            count is not known (SQLite could not say how many there were).
        taken: False when no run was copied because another process had
            started the new history first.
    """

    kept: int
    lost: int | None
    taken: bool = True


def _start_again_with_what_reads(path: Path, now: datetime, patience: float) -> str:
    """Move ``path`` aside and start a new history with its readable runs.

    Returns:
        What happened, for a person: how many runs were kept and where the
        damaged file is.

    Raises:
        HistoryError: The damaged file could not be moved aside, or the new
            file could not be created.
    """
    moved = _move_aside(path, now)
    log.warning("Damaged history file %s moved to %s", path, moved)
    started = time.perf_counter()
    try:
        _create_private(path)
        salvage = _salvage(moved, path, patience)
    except OSError as error:
        raise HistoryError(
            f"A new history file could not be started at {path} "
            f"({error.strerror or error})."
        ) from None
    except sqlite3.Error as error:
        # The copy was one transaction: the new file is left empty, and the
        # open that follows starts it like any first history.
        log.warning("No run could be copied from %s: %s", moved, error)
        salvage = _Salvage(kept=0, lost=None)
    log.warning(
        "Copied %s runs from %s into a new history in %.1f s; %s could not be read",
        salvage.kept,
        moved,
        time.perf_counter() - started,
        "an unknown number" if salvage.lost is None else salvage.lost,
    )
    return _salvage_words(salvage, moved)


def _salvage_words(salvage: _Salvage, moved: Path) -> str:
    kept_aside = f"The damaged file was kept as {moved} for support."
    if not salvage.taken:
        return (
            "The history file was damaged, and another Plan Runner had already "
            f"started a new history, so no run was copied into it. {kept_aside}"
        )
    if salvage.kept == 0:
        return (
            "The history file was damaged and none of its runs could be read; "
            f"a new, empty history was started. {kept_aside}"
        )
    if salvage.lost == 0:
        done = f"all {salvage.kept:,} of its runs were copied into a new history"
    elif salvage.lost is None:
        done = (
            f"{salvage.kept:,} of its runs were copied into a new history; "
            "how many others could not be read is not known"
        )
    else:
        done = (
            f"{salvage.kept:,} of its runs were copied into a new history, and "
            f"{salvage.lost:,} could not be read"
        )
    return f"The history file was damaged; {done}. {kept_aside}"


def _salvage(source: Path, target: Path, patience: float) -> _Salvage:
    """Copy the runs that can be read from ``source`` into a new history.

    ``target`` is new and empty. The runs that read are first copied into a
    scratch file beside it (see :func:`_copy_readable_runs`), then into
    ``target`` in one transaction, so that another process opening it
    meanwhile waits rather than starting a history of its own, and a copy cut
    short leaves it empty; the indexes are built once the runs are in, which
    is quicker than keeping them up to date row by row. IDs are kept, and the
    next ID continues after the highest one ever given in ``source``.

    Raises:
        sqlite3.Error: The new file could not be written.
        OSError: The scratch file could not be created.
    """
    scratch = target.with_name(target.name + ".salvage")
    _remove_scratch(scratch)
    _create_private(scratch)  # it holds the same runs
    try:
        salvage, next_id = _copy_readable_runs(source, scratch)
        writer = sqlite3.connect(target, timeout=patience, isolation_level=None)
        try:
            writer.execute("PRAGMA cache_size = -65536")  # 64 MiB, for the indexes
            writer.execute("ATTACH DATABASE ? AS scratch", (str(scratch),))
            writer.execute("BEGIN IMMEDIATE")
            try:
                if _has_tables(writer):
                    writer.execute("ROLLBACK")
                    return _Salvage(kept=0, lost=None, taken=False)
                for statement in (*_CREATE_V2, *_CREATE_V3):
                    writer.execute(statement)
                writer.execute(
                    f"INSERT INTO main.runs ({_COLUMNS}) "  # noqa: S608 - fixed SQL
                    f"SELECT {_COLUMNS} FROM scratch.runs ORDER BY id"
                )
                if next_id is not None:
                    _carry_on_ids(writer, next_id)
                for statement in _INDEXES_V2:
                    writer.execute(statement)
                writer.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                writer.execute("COMMIT")
            except BaseException:
                if writer.in_transaction:
                    writer.execute("ROLLBACK")
                raise
            writer.execute("DETACH DATABASE scratch")
            writer.execute("PRAGMA journal_mode = WAL")
        finally:
            writer.close()
    finally:
        _remove_scratch(scratch)
    return salvage


def _remove_scratch(scratch: Path) -> None:
    for suffix in ("", "-journal"):
        scratch.with_name(scratch.name + suffix).unlink(missing_ok=True)


def _copy_readable_runs(source: Path, scratch: Path) -> tuple[_Salvage, int | None]:
    """Copy every run of ``source`` that can be read into ``scratch``.

    The runs are read in the order of their IDs, straight from the table
    (``NOT INDEXED``: an index may be what is damaged), a batch a statement,
    each statement its own transaction: SQLite refuses every later write of a
    transaction in which a statement met damage. Where a batch meets damage,
    it is halved until the one run that cannot be read is found; reading then
    resumes at the first ID that can be read after it (see
    :func:`_next_readable`), so a damaged page loses the runs on it and no
    others.

    Returns:
        What was copied, and the highest ID that ``source`` ever gave (None
        when it cannot be read).
    """
    # The scratch file is private and removed afterwards: it needs no
    # durability, only statements that roll back (a journal in memory).
    copier = sqlite3.connect(scratch.resolve().as_uri(), uri=True, isolation_level=None)
    try:
        copier.execute("PRAGMA journal_mode = MEMORY")
        copier.execute("PRAGMA synchronous = OFF")
        copier.execute(*_CREATE_V2)
        if not _attach_damaged(copier, source):
            return _Salvage(kept=0, lost=None), None
        columns = _readable_columns(copier)
        if "id" not in columns:
            log.warning("The damaged history %s has no table of runs to read", source)
            return _Salvage(kept=0, lost=None), None
        names = ", ".join(columns)
        read = (
            f"SELECT {names} FROM damaged.runs NOT INDEXED "  # noqa: S608 - known
            "WHERE rowid >= ? ORDER BY rowid LIMIT ?"
        )
        copy = f"INSERT INTO main.runs ({names}) {read}"
        kept = 0
        skipped: int | None = 0
        batch = SALVAGE_BATCH
        start: int | None = _INT64_MIN
        while start is not None:
            try:
                copied = copier.execute(copy, (start, batch)).rowcount
            except sqlite3.DatabaseError as error:
                cannot_store = isinstance(error, sqlite3.IntegrityError)
                if not (cannot_store or _is_damage(error)):
                    raise
                if batch > 1:
                    batch //= 2  # the run that fails is among the first ``batch``
                    continue
                batch = SALVAGE_BATCH
                if cannot_store:
                    # Read whole, but a value breaks a rule of the table: that
                    # one run is left out.
                    (row_id,) = copier.execute(read, (start, 1)).fetchone()[:1]
                    log.warning("Run %s of %s left out: %s", row_id, source, error)
                    start = _after(int(row_id))
                    skipped = None if skipped is None else skipped + 1
                    continue
                resume = _next_readable(copier, read, start)
                if skipped is not None:
                    gap = (
                        None
                        if start == _INT64_MIN or resume is None
                        else resume - start
                    )
                    skipped = None if gap is None else skipped + gap
                start = resume
                continue
            kept += copied
            if copied < batch:
                break
            (last,) = copier.execute("SELECT max(id) FROM main.runs").fetchone()
            start = _after(int(last))
        return (
            _Salvage(kept=kept, lost=_lost(copier, kept, skipped)),
            _highest_id(copier),
        )
    finally:
        copier.close()


def _attach_damaged(connection: sqlite3.Connection, source: Path) -> bool:
    """Attach ``source`` read-only as ``damaged``; return whether its schema reads.

    It is attached as immutable (it was moved aside: no one else writes it any
    more), which reads the file alone and leaves what is kept for support as
    it was, unless a ``-wal`` beside it holds runs not yet in the file: SQLite
    then reads both, and rebuilds the ``-shm``, which only indexes the ``-wal``.
    """
    header = _wal_header(source) or b""
    wal = header[:4] in (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
    options = "mode=ro" if wal else "mode=ro&immutable=1"
    try:
        connection.execute(
            "ATTACH DATABASE ? AS damaged", (f"{source.resolve().as_uri()}?{options}",)
        )
        connection.execute("SELECT count(*) FROM damaged.sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        if not _is_damage(error) and _primary_code(error) != sqlite3.SQLITE_CANTOPEN:
            raise
        log.warning("The damaged history %s cannot be read at all: %s", source, error)
        return False
    return True


def _readable_columns(connection: sqlite3.Connection) -> list[str]:
    """Return the columns of this code's runs that the damaged file has."""
    try:
        found = {
            str(row[1]) for row in connection.execute("PRAGMA damaged.table_info(runs)")
        }
    except sqlite3.DatabaseError as error:
        if not _is_damage(error):
            raise
        return []
    return [name.strip() for name in _COLUMNS.split(",") if name.strip() in found]


def _after(row_id: int) -> int | None:
    return None if row_id >= _INT64_MAX else row_id + 1


def _next_readable(connection: sqlite3.Connection, read: str, start: int) -> int | None:
    """Return the first ID from which runs can be read again, past damage at ``start``.

    Reading from an ID seeks through the table's b-tree to the page that
    holds it, so it fails while the ID falls on a damaged page (or on the
    run whose own data is damaged) and works again from the ID after it. The
    IDs ahead are tried at doubling distances until one reads, then the
    distance is halved back to the first that does.

    Returns:
        That ID, or None when nothing after ``start`` can be read.
    """

    def reads(at: int) -> bool:
        try:
            connection.execute(read, (at, 1)).fetchall()
        except sqlite3.DatabaseError as error:
            if not _is_damage(error):
                raise
            return False
        return True

    failed, step = start, 1
    while True:
        at = min(start + step, _INT64_MAX)
        if reads(at):
            break
        if at == _INT64_MAX:
            return None
        failed, step = at, step * 2
    while at - failed > 1:
        middle = (failed + at) // 2
        if reads(middle):
            at = middle
        else:
            failed = middle
    return at


def _lost(connection: sqlite3.Connection, kept: int, skipped: int | None) -> int | None:
    """Return how many runs of the damaged file were not copied, or None.

    An index of the damaged file that can still be counted says how many runs
    it had; else the IDs skipped over stand for the runs lost (IDs are given
    in order, so they are close to it), unless damage at either end of the
    table leaves that open.
    """
    for statement in _INDEXES_V2:
        name = statement.split()[2]
        try:
            (had,) = connection.execute(
                f"SELECT count(*) FROM damaged.runs INDEXED BY {name}"  # noqa: S608
            ).fetchone()
        except sqlite3.DatabaseError as error:
            if not _is_damage(error) and "no such index" not in str(error):
                raise
            continue
        if isinstance(had, int) and had >= kept:
            return had - kept
    return skipped


def _highest_id(connection: sqlite3.Connection) -> int | None:
    """Return the highest ID the damaged file ever gave, or None."""
    try:
        row = connection.execute(
            "SELECT seq FROM damaged.sqlite_sequence WHERE name = 'runs'"
        ).fetchone()
    except sqlite3.DatabaseError as error:
        if not _is_damage(error):
            raise
        log.warning("The next ID of the damaged history cannot be read: %s", error)
        return None
    return row[0] if row is not None and type(row[0]) is int else None


def _carry_on_ids(writer: sqlite3.Connection, highest: int) -> None:
    """Make the next ID follow the highest one the damaged file ever gave.

    The runs lost at the end of the damaged file keep their IDs to themselves,
    so an ID in a ticket or a log never names two different runs.
    """
    updated = writer.execute(
        "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'runs'",
        (highest,),
    ).rowcount
    if not updated:
        writer.execute(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('runs', ?)", (highest,)
        )


def iter_rows(store: HistoryStore, filters: HistoryFilter) -> Iterator[HistoryRow]:
    """Yield every matching run, newest first, one page at a time."""
    before: Cursor | None = None
    while True:
        rows = store.page(filters, before=before, limit=1000)
        yield from rows
        if len(rows) < 1000:
            return
        before = rows[-1].cursor


CSV_FIELDS = (
    "id",
    "started_at",
    "finished_at",
    "profile",
    "gateway_url",
    "plan_id",
    "plan_name",
    "user_id",
    "user_name",
    "outcome",
    "http_status",
    "code",
    "message",
    "title",
    "advice",
    "duration_ms",
    "app_version",
    "facts",
)

# A spreadsheet runs a cell that starts with one of these as a formula. A leading
# apostrophe makes it text; cells that already start with one get another, so
# that csv_unescape() gives back exactly what was exported.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_escape(text: str) -> str:
    """Return ``text`` safe to open in a spreadsheet (no formula is run)."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_unescape(text: str) -> str:
    """Undo :func:`csv_escape` on a cell read back from an export."""
    return text[1:] if text.startswith("'") else text


def export_csv(rows: Iterable[HistoryRow], stream: TextIO) -> int:
    """Write the rows as CSV with a header; return how many rows were written.

    Open a file for this with ``newline=""``. Text cells that a spreadsheet
    would run as a formula are prefixed with an apostrophe (see
    :func:`csv_escape`); numbers are written as plain digits.
    """
    writer = csv.writer(stream)
    writer.writerow(CSV_FIELDS)
    written = 0
    for row in rows:
        data = row.to_dict()
        data["facts"] = json.dumps(data["facts"], ensure_ascii=False, sort_keys=True)
        writer.writerow([_csv_cell(data[name]) for name in CSV_FIELDS])
        written += 1
    return written


def export_json(rows: Iterable[HistoryRow], stream: TextIO) -> int:
    """Write the rows as one JSON array; return how many rows were written.

    The array is written row by row, so a large history is never held in memory.
    """
    written = 0
    stream.write("[")
    for row in rows:
        stream.write(",\n  " if written else "\n  ")
        stream.write(json.dumps(row.to_dict(), ensure_ascii=False))
        written += 1
    stream.write("\n]\n" if written else "]\n")
    return written


def _local(moment: datetime) -> datetime:
    """Return ``moment`` in this machine's time zone.

    Near the last moment a datetime can hold (year 9999, as a damaged or
    hand-edited file may store), a zone east of UTC would carry it past that:
    then it stays in UTC.
    """
    try:
        return moment.astimezone()
    except OverflowError:
        return moment


def to_epoch_ms(moment: datetime) -> int:
    """Return an aware time as whole milliseconds since the epoch (naive is UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MS


def from_epoch_ms(value: int) -> datetime:
    """Return the aware UTC time of milliseconds since the epoch."""
    return _EPOCH + timedelta(milliseconds=value)


class _DamagedError(Exception):
    """The file is damaged; the open keeps what it can (see :func:`_recover`).

    Attributes:
        lines: What SQLite's check reported, one problem a line; empty when
            the damage was met as an error rather than by a check.
        indexes: The indexes that hold all of the damage, when the check's
            lines place it there; None when some of it may lie elsewhere.
    """

    def __init__(
        self,
        summary: str,
        lines: Iterable[str] = (),
        indexes: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(summary)
        self.lines = tuple(lines) or (summary,)
        self.indexes = indexes


@dataclass(frozen=True)
class _FullCheck:
    """A full check that found the file whole, to record once the file is open.

    Attributes:
        reason: Why it was due, in words for a log.
        at: When it ran.
        wal_header: The header of the ``-wal`` file as the file was found, or
            None when there was no ``-wal`` with content.
        record: Whether to record it. A small file is checked at every open,
            so a record of it would never be read.
        thorough: Whether it was ``integrity_check``, run because of a note of
            damage; it clears the note.
    """

    reason: str
    at: datetime
    wal_header: bytes | None
    record: bool
    thorough: bool


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _connect(
    path: Path, notices: list[str], now: datetime, full_check: bool, patience: float
) -> tuple[sqlite3.Connection, sqlite3.Connection, str | None]:
    """Check the file, bring it to the current schema; return two connections.

    Returns:
        The writer, the reader, and why the whole file was checked (None when
        only the quick checks were due).

    Raises:
        _DamagedError: The file is damaged or not a database at all.
        HistoryError: The file cannot be used and must not be touched, or
            another program kept it locked for longer than ``patience``.
    """
    # One deadline for the whole open: each step waits only for what is left.
    deadline = _deadline(patience)
    check = _inspect(path, now, full_check=full_check, deadline=deadline)
    writer = _open_connection(path, patience)
    try:
        _prepare(writer, path, notices, deadline)
        if check is not None:
            _record_check(writer, path, check, deadline)
        reader = _open_connection(path, patience)
    except BaseException:
        writer.close()
        raise
    try:
        reader.execute("PRAGMA query_only = ON")
    except sqlite3.Error as error:
        reader.close()
        writer.close()
        raise HistoryError(_explain(error, "open", path, patience)) from error
    return writer, reader, None if check is None else check.reason


def _create_private(path: Path) -> None:
    """Create ``path`` empty and owner-only, unless it exists (left untouched)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)


def _inspect(
    path: Path, now: datetime, *, full_check: bool, deadline: _Deadline
) -> _FullCheck | None:
    """Check an existing file without changing it in any way.

    The quick checks always run; the full one when it is due (see the module's
    docstring) or ``full_check`` asks for it. A read-only connection neither
    checkpoints nor deletes the ``-wal`` file when it closes, so a damaged or
    newer file is found exactly as it was.

    The file itself is only ever opened through SQLite. On POSIX systems
    SQLite's locks belong to the process, and closing any other descriptor of
    the file would drop the locks of every connection this process has open on
    it (SQLite keeps its own descriptors open while others hold locks).

    Returns:
        The full check that ran and found the file whole, or None when none
        ran.

    Raises:
        _DamagedError: The file is damaged or not a database at all.
        HistoryError: The file belongs to a newer Plan Runner or to another
            program, or cannot be read.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    except OSError as error:
        raise HistoryError(
            f"The history file {path} cannot be read ({error.strerror or error}). "
            "Check that it belongs to you."
        ) from None
    if size == 0:
        return None
    _check_header(path)
    # Both are read before SQLite opens the file: the -wal is then as the last
    # session left it.
    wal_header = _wal_header(path)
    thorough = _damage_note(path).exists()
    try:
        checker = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise HistoryError(_explain(error, "open", path)) from error
    try:
        _known_version(
            checker,
            path,
            deadline,
            newer="Update Plan Runner to see and add to it; the file was left as "
            "it is.",
            foreign=" Move it elsewhere, and Plan Runner will start a new history "
            "there.",
        )
        pages, recorded = _with_retries(
            checker, lambda: _quick_checks(checker), deadline
        )
        reason = _full_check_reason(
            asked=full_check,
            noted=thorough,
            pages=pages,
            recorded=recorded,
            wal_header=wal_header,
            now=now,
        )
        if reason is None:
            log.debug("History %s passed the quick checks; no full check due", path)
            return None
        pragma = "integrity_check" if thorough else "quick_check"
        started = time.perf_counter()
        problems = _problems(checker, pragma, deadline)
        if problems != ["ok"]:
            raise _DamagedError(
                f"the {pragma} found {len(problems)} problems",
                problems,
                _indexes_holding(checker, problems),
            )
        log.log(
            logging.DEBUG if reason == _SMALL else logging.INFO,
            "Checked the whole history %s (%s; %s pages) in %.0f ms",
            path,
            reason,
            pages,
            (time.perf_counter() - started) * 1000,
        )
    except sqlite3.DatabaseError as error:
        if _is_damage(error):
            raise _DamagedError(str(error)) from error
        raise HistoryError(_explain(error, "open", path, deadline.patience)) from error
    finally:
        checker.close()
    return _FullCheck(
        reason=reason,
        at=now,
        wal_header=wal_header,
        record=pages > SMALL_FILE_PAGES,
        thorough=thorough,
    )


def _check_header(path: Path) -> None:
    """Check that ``path`` starts with the header of an SQLite database.

    ``immutable`` makes SQLite read the file alone, without a lock and without
    its ``-wal`` and ``-shm``: a read-only connection would set up a ``-shm``
    beside a file that is not a database, which is then no longer moved aside
    as it was found. Only values of the header are read, never the schema,
    which the file alone may hold half-written while a checkpoint runs.

    Raises:
        _DamagedError: The file is not an SQLite database.
    """
    try:
        probe = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True
        )
    except sqlite3.Error as error:
        raise HistoryError(_explain(error, "open", path)) from error
    try:
        probe.execute("PRAGMA user_version").fetchone()
    except sqlite3.DatabaseError as error:
        if _primary_code(error) == sqlite3.SQLITE_NOTADB:
            raise _DamagedError("it is not a database") from error
        # Anything else is for the read-only connection that follows to report.
        log.debug("Header of %s not read alone: %s", path, error)
    finally:
        probe.close()


def _quick_checks(checker: sqlite3.Connection) -> tuple[int, dict[str, object]]:
    """Run the checks whose cost does not grow with the file.

    SQLite itself compares the page count in the header with the length of
    the file (and its ``-wal``) on the first read, and reports a file that was
    cut off as damaged; reading the schema parses every page of it.

    Returns:
        The file's size in pages, and the ``meta`` values of its last full
        check (empty when none is recorded).

    Raises:
        sqlite3.DatabaseError: SQLite found the header or the schema damaged.
    """
    tables = {
        str(row[0])
        for row in checker.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    pages = int(checker.execute("PRAGMA page_count").fetchone()[0])
    recorded: dict[str, object] = {}
    if "meta" in tables:
        recorded = {
            str(key): value
            for key, value in checker.execute(
                "SELECT key, value FROM meta WHERE key IN (?, ?)",
                (_FULL_CHECK_AT, _FULL_CHECK_WAL),
            )
        }
    return pages, recorded


_SMALL = "small enough to check at every open"


def _full_check_reason(
    *,
    asked: bool,
    noted: bool,
    pages: int,
    recorded: Mapping[str, object],
    wal_header: bytes | None,
    now: datetime,
) -> str | None:
    """Return why the whole file must be read now, or None when it need not be."""
    if asked:
        return "asked for"
    if noted:
        return "SQLite reported damage while it was in use"
    if pages <= SMALL_FILE_PAGES:
        return _SMALL
    checked_at = _time(recorded.get(_FULL_CHECK_AT))
    if checked_at is None:
        return "no full check recorded"
    if not timedelta(0) <= now - checked_at < CHECK_INTERVAL:
        return f"last full check at {checked_at:%Y-%m-%d %H:%M} UTC"
    # A -wal with content was left by a session that did not close, or belongs
    # to one that still has the file open: the two look alike from outside.
    # Its header changes each time SQLite starts the log afresh, so a log that
    # was there at the last full check does not call for another one.
    if wal_header is not None and wal_header != recorded.get(_FULL_CHECK_WAL):
        return "a -wal file from a session that did not close, or is still open"
    return None


def _record_check(
    connection: sqlite3.Connection, path: Path, check: _FullCheck, deadline: _Deadline
) -> None:
    """Record a full check that found the file whole; clear a note of damage.

    Raises:
        _DamagedError: SQLite found damage while writing the record.
    """
    if check.record:

        def record(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (
                    (_FULL_CHECK_AT, to_epoch_ms(check.at)),
                    (_FULL_CHECK_WAL, check.wal_header),
                ),
            )

        try:
            _in_write_transaction(connection, record, deadline)
        except sqlite3.Error as error:
            if _is_damage(error):
                raise _DamagedError(str(error)) from error
            # Without the record the next open checks again: it costs time,
            # it never skips a check.
            log.warning("Could not record the full check of %s: %s", path, error)
    if check.thorough:
        log.warning(
            "SQLite had reported damage in %s, but a full check found it whole", path
        )
        try:
            _damage_note(path).unlink(missing_ok=True)
        except OSError as error:
            log.warning(
                "Could not remove the note of damage beside %s: %s", path, error
            )


# The -wal file starts with a 32-byte header: magic, format, page size, the
# checkpoint sequence and two salts that SQLite renews each time it starts the
# log afresh (https://sqlite.org/fileformat2.html#walformat).
_WAL_HEADER_SIZE = 32


def _wal_header(path: Path) -> bytes | None:
    """Return the header of the ``-wal`` file beside ``path``, or None.

    None stands for no ``-wal``, or an empty one (a session has the file open
    but has written nothing since the log was last emptied). SQLite holds no
    lock on the ``-wal`` file itself, so reading it here is safe.
    """
    try:
        with path.with_name(path.name + "-wal").open("rb") as stream:
            header = stream.read(_WAL_HEADER_SIZE)
    except FileNotFoundError:
        return None
    except OSError as error:
        # SQLite cannot read it either, and says so when it opens the file.
        log.debug("The -wal beside %s cannot be read: %s", path, error)
        return None
    return header or None


def _damage_note(path: Path) -> Path:
    """Return the note that asks the next open for a full check of ``path``."""
    return path.with_name(path.name + ".check-needed")


def _note_damage(path: Path, error: sqlite3.Error, now: datetime) -> None:
    """Leave a note beside ``path`` so that the next open checks it in full.

    A note that cannot be written is logged: the daily full check still finds
    the damage.
    """
    text = (
        f"SQLite reported damage in {path.name} at "
        f"{now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC: {error}\n"
        "Plan Runner checks the whole file the next time it opens it, moves it "
        "aside if it is damaged, and removes this note.\n"
    )
    try:
        descriptor = os.open(
            _damage_note(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
        )
        try:
            os.write(descriptor, text.encode("utf-8"))
        finally:
            os.close(descriptor)
    except OSError as failure:
        log.warning("Could not leave a note to check %s in full: %s", path, failure)
        return
    log.warning("SQLite reported damage in %s: %s", path, error)


def _open_connection(path: Path, patience: float) -> sqlite3.Connection:
    try:
        # isolation_level=None: transactions are begun and ended explicitly, so
        # that every write can be BEGIN IMMEDIATE. check_same_thread=False: the
        # store guards each connection with its own lock.
        return sqlite3.connect(
            path, timeout=patience, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as error:
        raise HistoryError(_explain(error, "open", path)) from error


def _prepare(
    connection: sqlite3.Connection,
    path: Path,
    notices: list[str],
    deadline: _Deadline,
) -> None:
    """Set the connection up for writing and create or migrate the schema."""
    try:
        mode = _with_retries(
            connection,
            lambda: str(connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]),
            deadline,
        )
        if mode.lower() != "wal":
            log.warning("History file %s stays in %s journal mode", path, mode)
        # FULL, not NORMAL: both survive the process being killed, but in WAL
        # mode NORMAL may lose the last runs on a power cut, and the history is
        # what tells a person whether a (non-idempotent) run was already sent.
        # One run is one commit, at human pace, so the extra fsync is free.
        connection.execute("PRAGMA synchronous = FULL")
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if version < SCHEMA_VERSION:
            _upgrade(connection, path, notices, deadline)
    except sqlite3.DatabaseError as error:
        if _is_damage(error):
            raise _DamagedError(str(error)) from error
        raise HistoryError(_explain(error, "open", path, deadline.patience)) from error


def _has_tables(connection: sqlite3.Connection) -> bool:
    row = connection.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
    ).fetchone()
    return bool(row[0])


def _upgrade(
    connection: sqlite3.Connection,
    path: Path,
    notices: list[str],
    deadline: _Deadline,
) -> None:
    """Create the schema in a new file, or back up and migrate an older one.

    It all happens under the write lock, so that when two processes open an old
    file at once, one migrates and the other finds it done.
    """

    def migrate(conn: sqlite3.Connection) -> int:
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if current == 0 and _has_tables(conn):
            raise HistoryError(
                f"{path} is a database, but not a Plan Runner history. Move it "
                "elsewhere, and Plan Runner will start a new history there."
            )
        if current == 0:
            for statement in (*_CREATE_V2, *_INDEXES_V2, *_CREATE_V3):
                conn.execute(statement)
        elif current < SCHEMA_VERSION:
            _backup(path, path.with_name(f"{path.name}.v{current}.bak"), deadline)
            for step in range(current, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step]:
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return current

    before = _in_write_transaction(connection, migrate, deadline)
    if 0 < before < SCHEMA_VERSION:
        log.info(
            "Migrated history %s from version %s to %s", path, before, SCHEMA_VERSION
        )
        notices.append(
            f"The history was upgraded to this version of Plan Runner; a copy of "
            f"the old file was kept as {path.name}.v{before}.bak."
        )


def _backup(path: Path, target: Path, deadline: _Deadline) -> None:
    """Copy the database to ``target`` through SQLite's backup API.

    The copy is read through its own connection: the caller holds the write
    lock, so what it reads is exactly the file as it is before the migration.
    """
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    # The copy holds the same runs, so it is made private the same way.
    _create_private(partial)
    source = sqlite3.connect(path, timeout=deadline.remaining())
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    partial.replace(target)
    log.info("Backed up the history to %s", target)


def _move_aside(path: Path, now: datetime) -> Path:
    """Move a damaged file and its ``-wal`` and ``-shm`` aside; return its new name."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    serial = 1
    while target.exists():
        serial += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{serial}")
    try:
        for suffix in ("-wal", "-shm", ""):
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                companion.rename(target.with_name(target.name + suffix))
        # The note asked for the check that has just found the damage.
        _damage_note(path).unlink(missing_ok=True)
    except OSError as error:
        raise HistoryError(
            f"The history file {path} is damaged and could not be moved aside "
            f"({error.strerror or error}). Move or delete it, then start Plan "
            "Runner again."
        ) from None
    return target


def _in_write_transaction(
    connection: sqlite3.Connection,
    action: Callable[[sqlite3.Connection], _T],
    deadline: _Deadline,
) -> _T:
    """Run ``action`` in one BEGIN IMMEDIATE transaction, retrying while busy.

    BEGIN IMMEDIATE takes the write lock up front, so SQLite's busy timeout
    applies to it; a transaction that started as a read could not wait and would
    fail at once. A busy error that SQLite does not wait for itself is retried
    until the deadline.
    """

    def attempt() -> _T:
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = action(connection)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return result

    return _with_retries(connection, attempt, deadline)


@dataclass(frozen=True)
class _Deadline:
    """When waiting for a locked file ends, shared by the steps of one access.

    Attributes:
        patience: The whole wait allowed, in seconds (for the message).
        at: The end, in :func:`time.monotonic` seconds.
    """

    patience: float
    at: float

    def remaining(self) -> float:
        """Return the seconds left, never less than zero."""
        return max(self.at - time.monotonic(), 0.0)


def _deadline(patience: float) -> _Deadline:
    return _Deadline(patience, time.monotonic() + patience)


def _with_retries(
    connection: sqlite3.Connection, attempt: Callable[[], _T], deadline: _Deadline
) -> _T:
    """Run ``attempt``, retrying while busy, and never wait past ``deadline``.

    Each attempt gets SQLite's busy timeout set to the time that is left, so
    that the waits of SQLite and of the retries add up to the deadline at most,
    not to a timeout per attempt.
    """
    delay = 0.02
    while True:
        left_ms = int(deadline.remaining() * 1000)
        connection.execute(f"PRAGMA busy_timeout = {left_ms}")
        try:
            return attempt()
        except sqlite3.OperationalError as error:
            busy = _primary_code(error) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or deadline.remaining() < delay:
                raise
            log.debug("History file busy, trying again in %.2f s", delay)
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _primary_code(error: sqlite3.Error) -> int:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        text = str(error).lower()
        if "locked" in text or "busy" in text:
            return sqlite3.SQLITE_BUSY
        if "malformed" in text:
            return sqlite3.SQLITE_CORRUPT
        if "not a database" in text:
            return sqlite3.SQLITE_NOTADB
        return -1
    return int(code) & 0xFF


def _is_damage(error: sqlite3.Error) -> bool:
    """Return whether SQLite found the file damaged or not a database at all."""
    return _primary_code(error) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _explain(
    error: sqlite3.Error,
    doing: str,
    path: Path,
    waited: float = BUSY_PATIENCE_S,
) -> str:
    """Word an SQLite error for a person (never SQLite's own terse text alone)."""
    code = _primary_code(error)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return _locked_message(doing, path, waited)
    if code == sqlite3.SQLITE_FULL:
        return f"Could not {doing} the history: the disk holding {path} is full."
    if code in (
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_AUTH,
    ):
        return (
            f"Could not {doing} the history: {path} cannot be written or opened. "
            "Check that the file and its folder belong to you and are writable."
        )
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return (
            f"Could not {doing} the history: {path} is damaged. Restart Plan "
            "Runner; it will move the damaged file aside and start a new one."
        )
    return f"Could not {doing} the history in {path}: {error}."


def _locked_message(doing: str, path: Path, waited: float) -> str:
    # Plan Runner's own writes hold the lock for milliseconds, so after this
    # long it is another program, and the person can end its hold.
    return (
        f"Could not {doing} the history: another program has {path} open and "
        f"kept it locked for more than {waited:g} seconds (often a database "
        "browser, or an sqlite3 shell with a transaction left open). Close that "
        "program, or end its transaction, then try again."
    )


def _where(filters: HistoryFilter, before: Cursor | None) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    # The equality filters, most selective first. Only the first one present is
    # left for an index; the others get SQLite's no-op unary "+", which keeps the
    # planner (it has no statistics) from walking the index of a column that
    # matches a ninth of the table while a plan ID would match a handful of rows.
    equalities: list[tuple[str, object]] = [
        ("plan_id", filters.plan_id),
        ("user_id", filters.user_id),
        ("profile", filters.profile),
        ("outcome", None if filters.outcome is None else Category(filters.outcome)),
    ]
    indexed = False
    for column, value in equalities:
        if value is None:
            continue
        clauses.append(f"{'+' if indexed else ''}{column} = ?")
        params.append(value.value if isinstance(value, Category) else value)
        indexed = True
    if filters.since is not None:
        clauses.append("started_at >= ?")
        params.append(to_epoch_ms(_aware(filters.since)))
    if filters.until is not None:
        clauses.append("started_at < ?")
        params.append(to_epoch_ms(_aware(filters.until)))
    if filters.text:
        pattern = "%" + _like_escape(filters.text) + "%"
        clauses.append(
            "(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in _TEXT_COLUMNS) + ")"
        )
        params.extend([pattern] * len(_TEXT_COLUMNS))
    if before is not None:
        # A range on started_at the index can seek to, then the tie on id.
        clauses.append("started_at <= ? AND (started_at < ? OR id < ?)")
        params.extend([before[0], before[0], before[1]])
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    return where, params


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _aware(moment: datetime) -> datetime:
    """Return an aware time; a naive one is taken as local time."""
    return moment if moment.tzinfo is not None else moment.astimezone()


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _code_to_db(code: int | None) -> int | str | None:
    if code is None or _INT64_MIN <= code <= _INT64_MAX:
        return code
    return str(code)


def _code_from_db(value: object) -> int | None:
    if value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


_CATEGORIES = {category.value: category for category in Category}
_UNKNOWN = Category.UNKNOWN


def _row(values: tuple[Any, ...]) -> HistoryRow:
    """Build a row from the columns of ``_COLUMNS``, in that order."""
    # The common case, checked cheaply: every column holds what this code writes,
    # the times as whole milliseconds from 1970 to 2200 (see _LazyTime).
    if (
        type(values[1]) is int
        and _FAST_MS[0] <= values[1] <= _FAST_MS[1]
        and type(values[2]) is int
        and _FAST_MS[0] <= values[2] <= _FAST_MS[1]
        and type(values[5]) is int
        and type(values[7]) is int
        and type(values[15]) is int
        and type(values[10]) in _INT_OR_NONE
        and type(values[4]) is str
        and type(values[13]) is str
        and type(values[14]) is str
        and type(values[3]) in _STR_OR_NONE
        and type(values[6]) in _STR_OR_NONE
        and type(values[8]) in _STR_OR_NONE
        and type(values[12]) in _STR_OR_NONE
        and type(values[16]) in _STR_OR_NONE
    ):
        code = values[11]
        # The generated __init__ of a frozen dataclass sets each field through
        # object.__setattr__, which costs as much as reading the row from
        # SQLite. Filling the new instance's dict makes the same frozen object
        # at a fraction of that, and keeps a page within twice the time of a
        # raw query.
        row: HistoryRow = object.__new__(HistoryRow)
        row.__dict__.update(
            id=values[0],
            profile=values[3],
            gateway_url=values[4],
            plan_id=values[5],
            plan_name=values[6],
            user_id=values[7],
            user_name=values[8],
            outcome=_CATEGORIES.get(values[9], _UNKNOWN),
            http_status=values[10],
            code=code if code is None or type(code) is int else _code_from_db(code),
            message=values[12],
            title=values[13],
            advice=values[14],
            duration_ms=values[15],
            app_version=values[16],
            facts=_StoredFacts(values[17]),
            sort_key=values[1],
            _finished_ms=values[2],
        )
        return row
    return _careful_row(values)


_INT_OR_NONE = frozenset({int, type(None)})
_STR_OR_NONE = frozenset({str, type(None)})
_FAST_MS = (0, to_epoch_ms(datetime(2200, 1, 1, tzinfo=UTC)))
"""Stored times :class:`_LazyTime` makes datetimes of, exactly (1970 to 2200);
any other value is read by :func:`_careful_row`."""


class _LazyTime:
    """The ``started_at`` or ``finished_at`` of a row :func:`_row` read.

    Building a page took as long as SQLite took to read it, and half of that
    went on two datetimes a row, while the table shows a dozen of a page's
    rows. So such a row keeps the stored milliseconds (``sort_key``,
    ``_finished_ms``) and makes the datetime when it is first read, then keeps
    it in the row, where it is found directly from then on (this descriptor
    has no ``__set__``). Rows made any other way hold their datetimes and never
    come here.
    """

    def __init__(self, name: str, stored: str) -> None:
        self._name = name
        self._stored = stored

    def __get__(self, row: HistoryRow | None, owner: type | None = None) -> Any:
        if row is None:
            return self
        # Exact to the millisecond within _FAST_MS (the float's resolution is
        # under a microsecond there), and twice as quick as timedelta.
        moment = datetime.fromtimestamp(row.__dict__[self._stored] / 1000, UTC)
        row.__dict__[self._name] = moment
        return moment


setattr(HistoryRow, "started_at", _LazyTime("started_at", "sort_key"))  # noqa: B010
setattr(HistoryRow, "finished_at", _LazyTime("finished_at", "_finished_ms"))  # noqa: B010


def _careful_row(values: tuple[Any, ...]) -> HistoryRow:
    """Build a row whose stored values are not all what this code writes.

    Each value that cannot be read is replaced and named in the row's facts,
    so that a row edited by hand (or by another program) is still shown.
    """
    unreadable: list[str] = []

    def read(
        column: str, value: object, reader: Callable[[object], _T | None]
    ) -> _T | None:
        result = reader(value)
        if result is None and value is not None:
            unreadable.append(f"{column}={_shown(value)}")
        return result

    return HistoryRow(
        id=values[0],
        started_at=read("started_at", values[1], _time) or UNKNOWN_TIME,
        finished_at=read("finished_at", values[2], _time) or UNKNOWN_TIME,
        profile=_optional_text(values[3]),
        gateway_url=_optional_text(values[4]) or "",
        plan_id=read("plan_id", values[5], _whole) or 0,
        plan_name=_optional_text(values[6]),
        user_id=read("user_id", values[7], _whole) or 0,
        user_name=_optional_text(values[8]),
        outcome=_CATEGORIES.get(_optional_text(values[9]) or "", _UNKNOWN),
        http_status=read("http_status", values[10], _whole),
        code=_code_from_db(values[11]),
        message=_optional_text(values[12]),
        title=_optional_text(values[13]) or "",
        advice=_optional_text(values[14]) or "",
        duration_ms=read("duration_ms", values[15], _whole) or 0,
        app_version=_optional_text(values[16]),
        facts=_StoredFacts(values[17], tuple(unreadable)),
        # The stored value, whatever it is, so that the next page starts right
        # after this row in SQLite's own order of mixed types.
        sort_key=values[1],
    )


def _time(value: object) -> datetime | None:
    """Return the time of stored epoch milliseconds, or None if it is not one."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return _EPOCH + timedelta(milliseconds=value)
    except (OverflowError, ValueError):  # beyond the years a datetime can hold
        return None


def _whole(value: object) -> int | None:
    """Return a stored whole number, or None if it is not one."""
    return value if type(value) is int else None


def _text(value: object) -> str:
    """Return a stored value as text (SQLite may hand back bytes or numbers)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _shown(value: object, limit: int = 40) -> str:
    """Return a stored value quoted and cut short, to name it in a note."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(moment: datetime) -> str | None:
    if moment == UNKNOWN_TIME:
        return None
    return moment.isoformat(timespec="milliseconds")


class _StoredFacts(Mapping[str, str]):
    """The facts of a stored row, decoded from their JSON text on first use."""

    __slots__ = ("_decoded", "_text", "_unreadable")

    def __init__(self, text: object, unreadable: tuple[str, ...] = ()) -> None:
        self._text = text
        self._unreadable = unreadable
        self._decoded: dict[str, str] | None = None

    def _data(self) -> dict[str, str]:
        if self._decoded is None:
            decoded, problem = _facts(self._text)
            notes = [*self._unreadable, *([problem] if problem else [])]
            if notes:
                decoded[UNREADABLE] = "; ".join(notes)
            self._decoded = decoded
        return self._decoded

    def __getitem__(self, key: str) -> str:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return repr(self._data())


def _facts(stored: object) -> tuple[dict[str, str], str | None]:
    """Decode stored facts; return them, and a note when they cannot be read."""
    if not stored:
        return {}, None
    try:
        document = json.loads(_text(stored))
    except (ValueError, RecursionError):
        return {}, f"facts={_shown(stored)}"
    if not isinstance(document, dict):
        return {}, f"facts={_shown(stored)}"
    return {str(key): str(value) for key, value in document.items()}, None


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return csv_escape(str(value))


def _named(entry_id: int, name: str | None) -> str:
    return f"{entry_id} ({name})" if name else str(entry_id)
