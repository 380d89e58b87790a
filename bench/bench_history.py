"""Benchmark the history at 1,000,000 runs against raw indexed SQLite queries.

Run it with the project's interpreter::

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_history.py [--rows N]

It fills a history file of its own (in a temporary folder, or ``--file``), then
times, as the median of several runs, each store query against a raw
``sqlite3`` query that returns the same rows from the same file. Last, it
measures how much memory the history view adds when it opens on that file:
with its first page, and scrolled to the end (every page fetched until the
model says there is no more to fetch: the most the view ever holds).

``--file`` keeps the filled file for the next run. Only a file this bench made
is ever filled or reused (it is marked with ``PRAGMA application_id``, which
the app does not use); any other existing file is refused (exit code 2) and
left as it is.

Targets: the first page and the filter by plan each at most 50 ms and at most
twice their raw query; the view, scrolled to the end, at most 50 MB. The other
queries and the first page's memory are information.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchlib import (
    SQLITE_HEADER,
    Figure,
    Report,
    at_least,
    check_stopped,
    fresh_home,
    output_file,
    print_machine,
    run_main,
)

from app.core.history import HistoryFilter, HistoryStore, to_epoch_ms
from app.core.outcome import Category

RUNS = 7
PAGE = 200
LONG_MAX = 2**63 - 1
BENCH_MARK = 0x504C5242  # "PLRB": PRAGMA application_id of a file this bench made
VIEW_LIMIT_MB = 50
VIEW_GUARD_MB = 10 * VIEW_LIMIT_MB  # stop scrolling here: the target is missed
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
    parser.add_argument(
        "--rows",
        type=at_least(1),
        default=1_000_000,
        help="runs in the history (at least 1; default 1,000,000, the target's size)",
    )
    parser.add_argument(
        "--file",
        type=Path,
        help=(
            "fill this file and keep it: a new file, or one this bench made before "
            "(reused when it holds at least --rows runs, else filled again); any "
            "other existing file is refused"
        ),
    )
    parser.add_argument("--no-view", action="store_true", help="skip the Qt part")
    parser.add_argument("--json", type=output_file, help="write the figures here")
    args = parser.parse_args()
    if args.file:
        problem = unusable(args.file)
        if problem:
            parser.error(problem)
    print_machine()
    report = Report("history")

    with fresh_home() as folder:
        path = args.file or folder / "history.sqlite3"
        count = fill(path, args.rows)
        label = f"history at {count:,} rows"
        opening = measure_open(path, count)
        store = HistoryStore.open(path)
        try:
            results = measure_queries(store, path)
        finally:
            store.close()
        note = f"median of {RUNS}; raw indexed sqlite3 baseline"
        for name, store_ms, raw_ms, targeted in results:
            report.add(
                Figure(
                    f"{label}: {name}" if targeted else f"  {name}",
                    store_ms,
                    "ms",
                    baseline=raw_ms,
                    limit=50 if targeted else None,
                    max_ratio=2 if targeted else None,
                    note=note if targeted else "",
                )
            )
        if not args.no_view:
            report.figures.extend(measure_view(path, count))
        report.figures.extend(opening)

    print()
    report.print_table()
    report.write(args.json)
    return 0 if all(f.met is not False for f in report.figures) else 1


def unusable(path: Path) -> str | None:
    """Say why ``path`` may not be filled by this bench; None when it may.

    The bench fills a new file, or one it made itself (``BENCH_MARK``): never a
    history someone keeps, nor any other file.
    """
    if not path.exists():
        if not path.parent.is_dir():
            return f"--file {path}: no folder {path.parent}"
        return None
    if not path.is_file():
        return f"--file {path}: not a file"
    with path.open("rb") as stream:
        header = stream.read(100)
    if not header.startswith(SQLITE_HEADER):
        return f"--file {path}: not an SQLite file; refused, left as it is"
    if int.from_bytes(header[68:72], "big") != BENCH_MARK:
        return (
            f"--file {path}: a database this bench did not make (a history in "
            "use?); refused, left as it is. Name a new file, or one this bench "
            "made before."
        )
    return None


def measure_open(path: Path, rows: int) -> list[Figure]:
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
    return [
        Figure(f"  history open (full check), {rows:,} rows", check_ms, "ms"),
        Figure(
            f"  history open ({label}), {rows:,} rows",
            usual_ms,
            "ms",
            note=f"median of {RUNS}",
        ),
    ]


def fill(path: Path, rows: int) -> int:
    """Make ``path`` a history of ``rows`` runs; return how many runs it holds.

    A file this bench made before (see :func:`unusable`) with at least ``rows``
    runs is reused as it is; with fewer, it is made again. A new file is marked
    as the bench's before the store creates its schema in it.
    """
    if path.exists():
        connection = sqlite3.connect(path)
        try:
            have = connection.execute("SELECT count(*) FROM runs").fetchone()[0]
        finally:
            connection.close()
        if have >= rows:
            more = f"; more than the {rows:,} asked" if have > rows else ""
            print(f"reusing {path}: {have:,} runs{more}")
            return have
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute(f"PRAGMA application_id = {BENCH_MARK}")
    finally:
        connection.close()
    HistoryStore.open(path).close()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
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
    return rows


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


def measure_queries(
    store: HistoryStore, path: Path
) -> list[tuple[str, float, float, bool]]:
    """Time each store query against a raw query returning the same rows.

    Returns (name, store ms, raw ms, targeted): the first page and the filter
    by plan are what the targets are for; the other queries are information.
    """
    raw = sqlite3.connect(path)
    try:
        newest = raw.execute(
            "SELECT plan_id, outcome FROM runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        plan_id, _ = newest
        cases: list[tuple[str, HistoryFilter, str, tuple[object, ...], bool]] = [
            ("first page", HistoryFilter(), "", (), True),
            (
                "filter by plan",
                HistoryFilter(plan_id=plan_id),
                "WHERE plan_id = ?",
                (plan_id,),
                True,
            ),
            (
                "outcome auth",
                HistoryFilter(outcome=Category.AUTH),
                "WHERE outcome = ?",
                ("auth",),
                False,
            ),
            (
                "outcome queued",
                HistoryFilter(outcome=Category.QUEUED),
                "WHERE outcome = ?",
                ("queued",),
                False,
            ),
        ]
        results = []
        for name, filters, where, params, targeted in cases:
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
            results.append(
                (name, median_ms(store_query), median_ms(raw_query), targeted)
            )
        print(f"plan filtered by: {plan_id} (the newest run's)")

        # A deep page: the 500th, or the last one of a smaller history; none
        # when all the runs fit on the first page.
        pages = -(-store.count(HistoryFilter()) // PAGE)
        if pages > 1:
            depth = min(500, pages)
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
                    False,
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
        print("\ninformation, no raw baseline (median ms):")
        for name, action in extras.items():
            print(f"  {name:<28}{median_ms(action):>10.2f} ms")
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


def measure_view(path: Path, count: int) -> list[Figure]:
    """Measure the memory the history view adds, open on ``path``, in MB.

    First with the page it shows on opening, then scrolled to the end: pages
    fetched until the model's ``canFetchMore`` says there is no more (the
    view's cap, ``MAX_ROWS`` rows, or every run of a smaller history), the most
    the view ever holds. The scrolling stops early if the view passes
    ``VIEW_GUARD_MB``: the target is missed by then.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QModelIndex  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from app.gui import history_view  # noqa: PLC0415

    app = QApplication.instance() or QApplication([])
    store = HistoryStore.open(path)
    try:
        app.processEvents()
        before = rss_mb()
        view = history_view.HistoryView(store)
        view.resize(1200, 800)
        view.show()
        for _ in range(5):
            app.processEvents()
        first_page = rss_mb()
        model = view.history_model
        first_rows = model.rowCount()
        print(
            f"\nview: first page, {first_rows:,} rows held; "
            f"RSS {before:.1f} MB -> {first_page:.1f} MB"
        )
        started = time.perf_counter()
        guarded = False
        while model.canFetchMore(QModelIndex()):
            # A signal's SystemExit raised in a Qt slot would be dropped: the
            # handler has recorded it, stop here.
            check_stopped()
            held = model.rowCount()
            view.table.scrollToBottom()
            app.processEvents()
            if model.rowCount() == held:  # the view did not fetch: fetch a page
                model.fetchMore(QModelIndex())
            if rss_mb() - before > VIEW_GUARD_MB:
                guarded = True
                break
        app.processEvents()
        end = rss_mb()
        end_rows = model.rowCount()
        scrolled_ms = (time.perf_counter() - started) * 1000
        max_rows = getattr(history_view, "MAX_ROWS", None)
        capped = getattr(model, "capped", None)
        cap = (
            "no MAX_ROWS in app.gui.history_view"
            if max_rows is None
            else f"MAX_ROWS {max_rows:,}"
        )
        more = {None: "", True: "; more runs than held (capped)", False: ""}[capped]
        stop = f"; stopped past {VIEW_GUARD_MB} MB" if guarded else ""
        print(
            f"view: scrolled to the end in {scrolled_ms:.0f} ms, {end_rows:,} of "
            f"{count:,} rows held ({cap}{more}{stop}); RSS {end:.1f} MB"
        )
        view.close()
        view.deleteLater()
        app.processEvents()
    finally:
        store.close()
    held_note = f"{end_rows:,} rows held ({cap}{more})"
    if guarded:
        held_note = f"at least: stopped at {end_rows:,} rows, past {VIEW_GUARD_MB} MB"
    return [
        Figure(
            f"memory the history view adds, scrolled to the end, {count:,} rows",
            end - before,
            "MB",
            limit=VIEW_LIMIT_MB,
            note=f"RSS; every page fetched until canFetchMore is False: {held_note}",
        ),
        Figure(
            "  same, first page only",
            first_page - before,
            "MB",
            note=f"{first_rows:,} rows held",
        ),
    ]


if __name__ == "__main__":
    run_main(main)
