"""Sample objects the tests build over and over."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from app.core.outcome import Category, Outcome


def sample_outcome(started_at: datetime, /, **changes: object) -> Outcome:
    """Return a queued run of plan 42 for user 7 on staging, with ``changes``.

    ``started_at`` is the default start; ``changes`` may give another.
    """
    base = Outcome(
        category=Category.QUEUED,
        title="Plan 42 was queued for user 7",
        advice="Nothing else to do.",
        support="HTTP 200, code 0.",
        plan_id=42,
        user_id=7,
        profile="staging",
        gateway_url="https://staging.example.com/queue",
        http_status=200,
        code=0,
        message="OK",
        started_at=started_at,
        duration_ms=120,
        facts={"attempts": "1"},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def mismatch_an_index(path: Path) -> None:
    """Leave runs_by_plan holding entries that do not match the runs.

    Its definition is changed under SQLite's feet, so the entries stay those of
    the old one: the same damage as index pages gone stale.
    """
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA writable_schema = ON")
    connection.execute(
        "UPDATE sqlite_master SET sql = "
        "'CREATE INDEX runs_by_plan ON runs (user_id, started_at)' "
        "WHERE name = 'runs_by_plan'"
    )
    connection.commit()
    connection.close()
