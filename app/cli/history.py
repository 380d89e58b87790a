"""``plan-runner history``: list the recorded runs, and check the file."""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from itertools import islice
from typing import Any

from app.cli.context import CliContext, reader_gone, warn
from app.core.contract import parse_id
from app.core.errors import InputError
from app.core.history import (
    FileCheck,
    FileState,
    HistoryFilter,
    HistoryRow,
    HistoryStore,
    check_file,
    export_csv,
    export_json,
    iter_rows,
    repair_file,
)
from app.core.outcome import Category

DEFAULT_LIMIT = 50
EXIT_DAMAGED = 9
"""``history check``: the history is damaged (and was not repaired)."""

_RELATIVE = re.compile(r"(\d{1,6})\s*([wdhm])", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
_COLUMNS = ("When", "Profile", "Plan", "User", "Outcome", "HTTP", "Code", "Title")


def register(commands: Any) -> None:
    """Add the ``history`` command."""
    parser = commands.add_parser(
        "history",
        help="list the recorded runs, newest first",
        description="List the recorded runs, newest first. Times are shown in "
        "local time. DATE is 2026-12-01, a full ISO-8601 time such as "
        "2026-12-01T14:30 or 2026-12-01T13:30Z, or an age such as 7d, 12h, 30m "
        "or 2w.",
    )
    parser.add_argument("--profile", metavar="NAME", help="only this profile's runs")
    parser.add_argument("--plan", metavar="ID", help="only runs of this plan")
    parser.add_argument("--user", metavar="ID", help="only runs for this user")
    parser.add_argument(
        "--outcome",
        metavar="CATEGORY",
        help=f"only runs with this outcome ({', '.join(c.value for c in Category)})",
    )
    parser.add_argument("--since", metavar="DATE", help="runs started at or after DATE")
    parser.add_argument(
        "--until",
        metavar="DATE",
        help="runs started before DATE (a bare date includes that whole day)",
    )
    parser.add_argument(
        "--text", metavar="T", help="runs whose title, message, names or URL hold T"
    )
    parser.add_argument(
        "--limit",
        metavar="N",
        default=str(DEFAULT_LIMIT),
        help=f"show at most N runs (default {DEFAULT_LIMIT}; 0 shows them all)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON array")
    output.add_argument("--csv", action="store_true", help="print CSV")
    parser.set_defaults(handler=history_command)
    actions = parser.add_subparsers(dest="history_action", metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="check the history file for damage, and repair it",
        description="Check the history file for damage without changing it. "
        "Exit codes: 0 the history is whole (or was repaired), 9 it is damaged, "
        "8 it cannot be checked (another program has it locked, or it is not a "
        "Plan Runner history).",
    )
    check.add_argument(
        "--full",
        action="store_true",
        help="also compare every index with the runs (PRAGMA integrity_check; "
        "slower on a large history)",
    )
    check.add_argument(
        "--repair",
        action="store_true",
        help="repair what the check finds: rebuild damaged indexes from the runs, "
        "or move a damaged file aside and start a new history with the runs that "
        "can still be read",
    )
    check.set_defaults(handler=check_command)


def history_command(args: argparse.Namespace, context: CliContext) -> int:
    """Print the runs that match the options; return the exit code.

    A history file that does not exist yet is not created: nothing matches.
    """
    now = datetime.now().astimezone()
    filters = HistoryFilter(
        profile=args.profile,
        plan_id=None if args.plan is None else parse_id(args.plan, "plan"),
        user_id=None if args.user is None else parse_id(args.user, "user"),
        outcome=_outcome(args.outcome),
        text=args.text or None,
        since=None if args.since is None else parse_when(args.since, "--since", now),
        until=None
        if args.until is None
        else parse_when(args.until, "--until", now, end_of_day=True),
    )
    limit = _limit(args.limit)

    path = context.paths.history_file
    if not path.exists():
        _emit(args, iter(()), limit)
        return 0
    # A HistoryError here (a newer or unreadable file) ends the command with the
    # setup exit code, through the one error path in app.cli.main.
    with HistoryStore.open(path, progress=warn) as store:
        for notice in store.notices:
            warn(notice)
        _emit(args, iter_rows(store, filters), limit)
    return 0


def check_command(args: argparse.Namespace, context: CliContext) -> int:
    """Check the history file, repair it when asked; return the exit code."""
    found = check_file(context.paths.history_file, thorough=args.full)
    print(_check_words(found))
    if found.state in (FileState.MISSING, FileState.WHOLE):
        if found.state is FileState.WHOLE and not found.thorough:
            print(
                "The quick check does not compare the indexes with the runs; "
                "`plan-runner history check --full` does."
            )
        return 0
    if not args.repair:
        print(f"To repair it: {_repair_words(found)}")
        return EXIT_DAMAGED
    # A HistoryError (the file is open elsewhere) ends with the setup exit code.
    print(repair_file(found, progress=print))
    return 0


def _check_words(found: FileCheck) -> str:
    kind = "full check (integrity_check)" if found.thorough else "quick check"
    where = f"{found.path}: {kind}"
    if found.state is FileState.MISSING:
        return f"There is no history yet at {found.path}; nothing to check."
    if found.state is FileState.WHOLE:
        return (
            f"{where} of {found.pages} pages in {found.seconds:.1f} s: "
            "the history is whole."
        )
    shown = "; ".join(found.problems[:3])
    more = len(found.problems) - 3
    if more > 0:
        shown += f" (and {more} more)"
    if found.state is FileState.INDEXES_DAMAGED:
        return (
            f"{where}: the runs are whole, but these indexes do not match them: "
            f"{', '.join(found.indexes)}. Filters and searches may miss runs or "
            f"show wrong ones. SQLite says: {shown}"
        )
    return f"{where}: the history file is damaged. SQLite says: {shown}"


def _repair_words(found: FileCheck) -> str:
    if found.state is FileState.INDEXES_DAMAGED:
        return (
            "close every Plan Runner window and run `plan-runner history check "
            "--full --repair`. It builds the indexes again from the runs; no run "
            "is lost."
        )
    return (
        "close every Plan Runner window and run `plan-runner history check "
        "--repair`. It moves the damaged file aside (kept beside the new one, "
        "for support) and starts a new history with every run that can still be "
        "read from it. The app does the same by itself when it finds the damage."
    )


def parse_when(
    text: str, option: str, now: datetime, *, end_of_day: bool = False
) -> datetime:
    """Read a DATE option: a date, an ISO-8601 time, or an age like ``7d``.

    Args:
        text: What was typed.
        option: The option's name, for the message.
        now: The current local time, aware; ages count back from it.
        end_of_day: A bare date means the end of that day (for ``--until``).

    Returns:
        An aware time; a date or a time without an offset is local time.

    Raises:
        InputError: The text is none of the forms.
    """
    cleaned = text.strip()
    try:
        moment = _moment(cleaned, now, end_of_day=end_of_day)
    except (OverflowError, ValueError):
        raise InputError(
            f"{option}: {cleaned!r} is too far in the past or the future."
        ) from None
    if moment is None:
        raise InputError(
            f"{option}: {cleaned!r} is not a date. Use 2026-12-01, an ISO-8601 "
            "time such as 2026-12-01T14:30 (local) or 2026-12-01T13:30Z, or an "
            "age such as 7d or 12h."
        )
    return moment


def _moment(text: str, now: datetime, *, end_of_day: bool) -> datetime | None:
    """Return the time ``text`` means, or None when it is none of the forms.

    Raises:
        OverflowError, ValueError: The time is out of the range a date can have.
    """
    relative = _RELATIVE.fullmatch(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2).lower()
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        day: date | None = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None:
        if end_of_day:
            day += timedelta(days=1)
        return datetime.combine(day, time()).astimezone()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.astimezone()


def _outcome(text: str | None) -> Category | None:
    if text is None:
        return None
    try:
        return Category(text.strip().lower())
    except ValueError:
        names = ", ".join(category.value for category in Category)
        raise InputError(
            f"--outcome: {text!r} is not an outcome; use one of: {names}."
        ) from None


def _limit(text: str) -> int | None:
    cleaned = text.strip()
    if not cleaned.isascii() or not cleaned.isdigit() or len(cleaned) > 9:
        raise InputError(
            f"--limit: {text!r} is not a number of runs (use 0 to show them all)."
        )
    value = int(cleaned)
    return None if value == 0 else value


def _emit(
    args: argparse.Namespace, rows: Iterator[HistoryRow], limit: int | None
) -> None:
    rows = _while_read(rows)
    if args.json:
        export_json(islice(rows, limit), sys.stdout)
    elif args.csv:
        # The csv module ends lines with \r\n itself; no newline translation.
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(newline="")
        export_csv(islice(rows, limit), sys.stdout)
    else:
        shown = list(islice(rows, limit))
        more = limit is not None and next(rows, None) is not None
        _print_table(shown, more)
    sys.stdout.flush()


def _while_read(rows: Iterator[HistoryRow]) -> Iterator[HistoryRow]:
    """Stop reading the history once the reader of the output has gone."""
    for row in rows:
        if reader_gone(sys.stdout):
            return
        yield row


def _print_table(rows: list[HistoryRow], more: bool) -> None:
    if not rows:
        print("No runs match.")
        return
    table = [
        (
            row.started_text,
            row.profile or "-",
            _named(row.plan_id, row.plan_name),
            _named(row.user_id, row.user_name),
            row.outcome.value,
            "-" if row.http_status is None else str(row.http_status),
            "-" if row.code is None else str(row.code),
            " ".join(row.title.split()),
        )
        for row in rows
    ]
    widths = [
        max(len(header), *(len(cells[n]) for cells in table))
        for n, header in enumerate(_COLUMNS[:-1])
    ]
    used = sum(widths) + 2 * len(widths)
    room = max(shutil.get_terminal_size((120, 24)).columns - used, 20)
    for cells in [_COLUMNS, *table]:
        fixed = "  ".join(
            cell.ljust(width) for cell, width in zip(cells, widths, strict=False)
        )
        print(f"{fixed}  {_cut(cells[-1], room)}".rstrip())
    if more:
        print(f"(showing the newest {len(rows)}; more runs match: use --limit N)")


def _named(entry_id: int, name: str | None) -> str:
    # 0 stands for an ID that could not be read from the history file.
    shown = str(entry_id) if entry_id else "?"
    return f"{shown} {_cut(name, 24)}" if name else shown


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
