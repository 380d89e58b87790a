"""Benchmark the history at 1,000,000 runs against raw indexed SQLite queries.

Run it with the project's interpreter::

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_history.py [--rows N]

It fills a fresh history file (in a temporary folder, unless ``--file`` names
one that exists already at the right size), then times, as the median of
several runs, each store query against a raw ``sqlite3`` query that returns the
same rows from the same file. Last, it measures how much memory the history
view adds when it opens on that file and shows its first page.

Targets: each store query at most 50 ms and at most twice its raw query; the
view at most 50 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.core.history import HistoryFilter, HistoryStore, to_epoch_ms
from app.core.outcome import Category

RUNS = 7
PAGE = 200
LONG_MAX = 2**63 - 1
PROFILES = ("staging", "qa-eu", "qa-us", "perf", "production-like")
OUTCOME_WEIGHTS = {
    Category.QUEUED: 70,
    Category.REJECTED: 8,
    Category.AUTH: 6,
    Category.INVALID: 3,
    Category.RATE_LIMITED: 3,
    Category.REDIRECTED: 1,
    Category.GATEWAY: 5,
    Category.NETWORK: 3,
    Category.UNKNOWN: 1,
}
INSERT = (
    "INSERT INTO runs (started_at, finished_at, profile, gateway_url, plan_id, "
    "user_id, outcome, http_status, code, message, title, advice, duration_ms, "
    "plan_name, user_name, app_version, facts) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
RAW_COLUMNS = (
    "id, started_at, finished_at, profile, gateway_url, plan_id, plan_name, "
    "user_id, user_name, outcome, http_status, code, message, title, advice, "
    "duration_ms, app_version, facts"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, help="reuse (or create) this file")
    parser.add_argument("--no-view", action="store_true", help="skip the Qt part")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="plan-runner-bench-") as folder:
        path = args.file or Path(folder) / "history.sqlite3"
        fill(path, args.rows)
        measure_open(path, args.rows)
        store = HistoryStore.open(path)
        try:
            results = measure_queries(store, path)
        finally:
            store.close()
        view_mb = None if args.no_view else measure_view(path)

    print()
    print(f"{'query':<28}{'store ms':>10}{'raw ms':>10}{'ratio':>8}  verdict")
    failed = False
    for name, store_ms, raw_ms in results:
        ratio = store_ms / raw_ms if raw_ms else float("inf")
        ok = store_ms <= 50 and ratio <= 2
        failed |= not ok
        print(
            f"{name:<28}{store_ms:>10.2f}{raw_ms:>10.2f}{ratio:>8.2f}  "
            f"{'ok' if ok else 'OVER TARGET'}"
        )
    if view_mb is not None:
        ok = view_mb <= 50
        failed |= not ok
        verdict = "ok" if ok else "OVER TARGET"
        print(f"{'view memory (MB)':<28}{view_mb:>10.1f}{'':>18}  {verdict}")
    return 1 if failed else 0


def measure_open(path: Path, rows: int) -> None:
    """Time opening the store with its full check, then as usual (median).

    The full check (``PRAGMA quick_check``) reads every page; the store runs it
    when it is due (a small file, once a day, after a session that did not
    close), which it is not right after the first open has recorded it.
    """

    def open_once(**options: bool) -> tuple[float, str | None]:
        started = time.perf_counter()
        store = HistoryStore.open(path, **options)
        elapsed = (time.perf_counter() - started) * 1000
        store.close()
        return elapsed, store.full_check_reason

    check_ms, _ = open_once(full_check=True)
    print(f"open (full check) of {rows:,} runs: {check_ms:.0f} ms")
    opened = [open_once() for _ in range(RUNS)]
    reasons = {reason for _, reason in opened}
    usual_ms = statistics.median(elapsed for elapsed, _ in opened)
    label = (
        "no full check due"
        if reasons == {None}
        else f"full check: {', '.join(sorted(map(str, reasons)))}"
    )
    print(f"open ({label}) of {rows:,} runs: {usual_ms:.1f} ms (median of {RUNS})")


def fill(path: Path, rows: int) -> None:
    """Create the schema through the store, then add rows in one transaction."""
    HistoryStore.open(path).close()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        have = connection.execute("SELECT count(*) FROM runs").fetchone()[0]
        if have >= rows:
            print(f"reusing {path} ({have:,} runs)")
            return
        connection.execute("DELETE FROM runs")
        started = time.perf_counter()
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("BEGIN")
        connection.executemany(INSERT, generate(rows))
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print(
            f"filled {rows:,} runs in {time.perf_counter() - started:.1f} s "
            f"({path.stat().st_size / 1e6:.0f} MB)"
        )
    finally:
        connection.close()


def generate(rows: int) -> Iterator[tuple[object, ...]]:
    """Yield plausible runs over the last year, oldest first."""
    rng = random.Random(7)
    plans = [rng.randrange(1, 100_000) for _ in range(1_990)] + [
        LONG_MAX - n for n in range(10)
    ]
    users = [rng.randrange(1, 10_000) for _ in range(500)]
    outcomes = list(OUTCOME_WEIGHTS)
    weights = list(OUTCOME_WEIGHTS.values())
    end = datetime.now(UTC)
    start_ms = to_epoch_ms(end - timedelta(days=365))
    step = (to_epoch_ms(end) - start_ms) // rows
    for n in range(rows):
        started = start_ms + n * step + rng.randrange(step or 1)
        outcome = rng.choices(outcomes, weights)[0]
        plan = rng.choice(plans)
        user = rng.choice(users)
        profile = rng.choice(PROFILES)
        queued = outcome is Category.QUEUED
        facts = {
            "attempts": "1",
            "http_status": "200" if queued else "401",
            "content-type": "application/json",
            "x-request-id": f"req-{n:08x}",
        }
        yield (
            started,
            started + 180,
            profile,
            f"https://{profile}.gateway.example.com/queue",
            plan,
            user,
            outcome.value,
            200 if queued else 401,
            0 if queued else 1000,
            "OK" if queued else "token expired",
            f"Plan {plan} was queued for user {user}"
            if queued
            else "The gateway refused the token",
            "Nothing else to do: the gateway accepted the run.",
            rng.randrange(40, 900),
            f"Regression suite {plan % 97}",
            f"qa.user{user}",
            "0.1.0",
            json.dumps(facts),
        )


def measure_queries(store: HistoryStore, path: Path) -> list[tuple[str, float, float]]:
    """Time each store query against a raw query returning the same rows."""
    raw = sqlite3.connect(path)
    try:
        newest = raw.execute(
            "SELECT plan_id, outcome FROM runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        plan_id, _ = newest
        cases: list[tuple[str, HistoryFilter, str, tuple[object, ...]]] = [
            ("first page", HistoryFilter(), "", ()),
            (
                f"plan {plan_id}",
                HistoryFilter(plan_id=plan_id),
                "WHERE plan_id = ?",
                (plan_id,),
            ),
            (
                "outcome auth",
                HistoryFilter(outcome=Category.AUTH),
                "WHERE outcome = ?",
                ("auth",),
            ),
            (
                "outcome queued",
                HistoryFilter(outcome=Category.QUEUED),
                "WHERE outcome = ?",
                ("queued",),
            ),
        ]
        results = []
        for name, filters, where, params in cases:
            sql = (
                f"SELECT {RAW_COLUMNS} FROM runs {where} "
                "ORDER BY started_at DESC, id DESC LIMIT ?"
            )

            def raw_query(sql: str = sql, params: tuple[object, ...] = params) -> list:
                return raw.execute(sql, (*params, PAGE)).fetchall()

            def store_query(filters: HistoryFilter = filters) -> list:
                return store.page(filters, limit=PAGE)

            same = [r[0] for r in raw_query()] == [r.id for r in store_query()]
            if not same:
                print(f"{name}: the store and the raw query disagree", file=sys.stderr)
            results.append((name, median_ms(store_query), median_ms(raw_query)))

        # A deep page: the 500th, or the last full one of a smaller history.
        depth = max(2, min(500, store.count(HistoryFilter()) // PAGE))
        deep = store.page(HistoryFilter(), limit=PAGE)
        for _ in range(depth - 2):
            deep = store.page(HistoryFilter(), before=deep[-1].cursor, limit=PAGE)
        cursor = deep[-1].cursor
        results.append(
            (
                f"page {depth} (keyset)",
                median_ms(
                    lambda: store.page(HistoryFilter(), before=cursor, limit=PAGE)
                ),
                median_ms(
                    lambda: raw.execute(
                        f"SELECT {RAW_COLUMNS} FROM runs "
                        "WHERE started_at <= ? AND (started_at < ? OR id < ?) "
                        "ORDER BY started_at DESC, id DESC LIMIT ?",
                        (cursor[0], cursor[0], cursor[1], PAGE),
                    ).fetchall()
                ),
            )
        )
        extras = {
            "count(all)": lambda: store.count(HistoryFilter()),
            "count(outcome auth)": lambda: store.count(HistoryFilter(outcome="auth")),
            "count(outcome queued)": lambda: store.count(
                HistoryFilter(outcome="queued")
            ),
            f"count(plan {plan_id})": lambda: store.count(
                HistoryFilter(plan_id=plan_id)
            ),
            "count(text, cap 10,000)": lambda: store.count(
                HistoryFilter(text="suite 42"), cap=10_000
            ),
            "page(text 'suite 42')": lambda: store.page(HistoryFilter(text="suite 42")),
            "profiles()": store.profiles,
        }
        print()
        for name, action in extras.items():
            print(f"{name:<28}{median_ms(action):>10.2f} ms (no raw baseline)")
        return results
    finally:
        raw.close()


def median_ms(action: Callable[[], object]) -> float:
    """Return the median wall time of ``action`` in ms, after one warm-up."""
    action()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def rss_mb() -> float:
    """Return this process's resident memory in MB."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def measure_view(path: Path) -> float:
    """Return the memory the history view adds, open on ``path``, in MB."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from app.gui.history_view import HistoryView  # noqa: PLC0415

    app = QApplication.instance() or QApplication([])
    store = HistoryStore.open(path)
    try:
        app.processEvents()
        before = rss_mb()
        view = HistoryView(store)
        view.resize(1200, 800)
        view.show()
        for _ in range(5):
            app.processEvents()
        after = rss_mb()
        rows = view.history_model.rowCount()
        print(f"\nview: {rows} rows loaded; RSS {before:.1f} MB -> {after:.1f} MB")
        started = time.perf_counter()
        for _ in range(50):
            view.table.scrollToBottom()
            app.processEvents()
        scrolled_ms = (time.perf_counter() - started) * 1000
        print(
            f"view: scrolled to {view.history_model.rowCount():,} rows in "
            f"{scrolled_ms:.0f} ms; RSS {rss_mb():.1f} MB"
        )
        view.close()
        view.deleteLater()
        app.processEvents()
    finally:
        store.close()
    return after - before


if __name__ == "__main__":
    sys.exit(main())
