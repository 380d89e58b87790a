"""``plan-runner history``: the listing as a script or a person sees it."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from samples import mismatch_an_index, sample_outcome

from app.cli.history import parse_when
from app.core.errors import InputError
from app.core.history import SCHEMA_VERSION, HistoryStore, csv_unescape
from app.core.outcome import Category, Outcome

LONG_MAX = 2**63 - 1
NOW = datetime.now(UTC)


def outcome(**changes: object) -> Outcome:
    return sample_outcome(NOW, **changes)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def filled(home: Path) -> dict[str, int]:
    with HistoryStore.open(home / "data" / "history.sqlite3") as store:
        return {
            "old": store.record(
                outcome(started_at=NOW - timedelta(days=10)), plan_name="Nightly"
            ),
            "long": store.record(
                outcome(plan_id=LONG_MAX, started_at=NOW - timedelta(hours=30)),
                plan_name="=cmd|' /C calc'!A0",
            ),
            "auth": store.record(
                outcome(
                    category=Category.AUTH,
                    title="The token was refused",
                    http_status=401,
                    code=1000,
                    message="token expired",
                    started_at=NOW - timedelta(hours=2),
                ),
                user_name="Grace",
            ),
            "newest": store.record(
                outcome(
                    profile="qa-eu",
                    message="Ünïcødé\nsecond line",
                    started_at=NOW - timedelta(minutes=5),
                )
            ),
        }


def plan_runner(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("plan-runner")
    command = (
        [str(script)]
        if script.exists()
        else [
            sys.executable,
            "-c",
            "from app.cli import main; raise SystemExit(main())",
        ]
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PLAN_RUNNER_")
    }
    env.update(PLAN_RUNNER_HOME=str(home), PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [*command, "history", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=60,
        check=False,
    )


def test_json_lists_every_run_newest_first_with_integer_ids(
    home: Path, filled: dict[str, int]
) -> None:
    result = plan_runner(home, "--json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [item["id"] for item in document] == [
        filled["newest"],
        filled["auth"],
        filled["long"],
        filled["old"],
    ]
    assert document[2]["plan_id"] == LONG_MAX
    assert '"plan_id": 9223372036854775807' in result.stdout
    assert document[0]["message"] == "Ünïcødé\nsecond line"
    assert document[1]["user_name"] == "Grace"


def test_csv_round_trips_and_defuses_formulas(
    home: Path, filled: dict[str, int]
) -> None:
    result = plan_runner(home, "--csv", "--plan", str(LONG_MAX))

    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert len(rows) == 1
    assert rows[0]["plan_id"] == str(LONG_MAX)
    assert rows[0]["plan_name"] == "'=cmd|' /C calc'!A0"
    assert csv_unescape(rows[0]["plan_name"]) == "=cmd|' /C calc'!A0"


def test_plan_filter_keeps_the_long_id_exact(
    home: Path, filled: dict[str, int]
) -> None:
    result = plan_runner(home, "--json", "--plan", str(LONG_MAX))
    assert [item["id"] for item in json.loads(result.stdout)] == [filled["long"]]


def test_outcome_filter(home: Path, filled: dict[str, int]) -> None:
    result = plan_runner(home, "--json", "--outcome", "auth")
    assert [item["id"] for item in json.loads(result.stdout)] == [filled["auth"]]


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("12h", ["newest", "auth"]),
        ("2d", ["newest", "auth", "long"]),
        ((NOW - timedelta(days=3)).date().isoformat(), ["newest", "auth", "long"]),
        ((NOW - timedelta(hours=3)).isoformat(), ["newest", "auth"]),
    ],
)
def test_since_accepts_ages_dates_and_times(
    home: Path, filled: dict[str, int], since: str, expected: list[str]
) -> None:
    result = plan_runner(home, "--json", "--since", since)
    assert result.returncode == 0, result.stderr
    assert [item["id"] for item in json.loads(result.stdout)] == [
        filled[name] for name in expected
    ]


def test_table_shows_local_time_names_and_outcomes(
    home: Path, filled: dict[str, int]
) -> None:
    result = plan_runner(home, "--limit", "2")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "When", "Profile", "Plan", "User", "Outcome", "HTTP", "Code", "Title"
    ]  # fmt: skip
    local = (NOW - timedelta(minutes=5)).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert lines[1].startswith(local)
    assert "qa-eu" in lines[1]
    assert "auth" in lines[2]
    assert "7 Grace" in lines[2]
    assert "401" in lines[2]
    assert "The token was refused" in lines[2]
    assert "more runs match" in lines[3]


@pytest.mark.parametrize(
    "args",
    [
        ("--since", "last tuesday"),
        ("--until", "2026-13-01"),
        ("--plan", "12abc"),
        ("--plan", str(LONG_MAX + 1)),
        ("--outcome", "fine"),
        ("--limit", "-3"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(
    home: Path, args: tuple[str, str]
) -> None:
    result = plan_runner(home, *args)

    assert result.returncode == 2
    assert result.stderr.startswith("plan-runner: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_no_history_yet_lists_nothing_and_creates_no_file(home: Path) -> None:
    result = plan_runner(home, "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert not (home / "data" / "history.sqlite3").exists()


def test_history_from_a_newer_plan_runner_exits_8(home: Path) -> None:
    path = home / "data" / "history.sqlite3"
    path.parent.mkdir(parents=True)
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY)")
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.commit()
    connection.close()

    result = plan_runner(home)

    assert result.returncode == 8
    assert "newer Plan Runner" in result.stderr


def test_check_finds_index_damage_only_with_full_and_repairs_it(
    home: Path, filled: dict[str, int]
) -> None:
    path = home / "data" / "history.sqlite3"
    mismatch_an_index(path)

    quick = plan_runner(home, "check")
    full = plan_runner(home, "check", "--full")
    repaired = plan_runner(home, "check", "--full", "--repair")
    after = plan_runner(home, "check", "--full")

    assert quick.returncode == 0, quick.stdout + quick.stderr
    assert "whole" in quick.stdout
    assert "--full" in quick.stdout
    assert full.returncode == 9, full.stdout + full.stderr
    assert "runs_by_plan" in full.stdout
    assert "history check --full --repair" in full.stdout
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "No run was lost" in repaired.stdout
    assert after.returncode == 0
    assert "the history is whole" in after.stdout
    assert len(json.loads(plan_runner(home, "--json").stdout)) == len(filled)


def test_check_of_a_damaged_file_exits_9_and_repair_moves_it_aside(
    home: Path, filled: dict[str, int]
) -> None:
    path = home / "data" / "history.sqlite3"
    path.write_bytes(b"not a database at all " * 400)

    found = plan_runner(home, "check")
    repaired = plan_runner(home, "check", "--repair")

    assert found.returncode == 9, found.stdout + found.stderr
    assert "damaged" in found.stdout
    assert "history check --repair" in found.stdout
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "none of its runs could be read" in repaired.stdout
    assert len(list(path.parent.glob("history.sqlite3.corrupt-*"))) == 1
    assert plan_runner(home, "check").returncode == 0


def many_runs(path: Path, runs: int = 5001) -> None:
    HistoryStore.open(path).close()
    connection = sqlite3.connect(path)
    with connection:
        connection.executemany(
            "INSERT INTO runs (started_at, finished_at, gateway_url, plan_id, "
            "user_id, outcome, title, advice, duration_ms) "
            "VALUES (?, ?, 'https://g/queue', ?, ?, 'queued', 't', 'a', 50)",
            ((n, n + 50, n % 97 + 1, n % 13 + 1) for n in range(runs)),
        )
    connection.close()


def overwrite_a_leaf_page(path: Path, tree: str, offset: int, size: int) -> None:
    connection = sqlite3.connect(path)
    pages = [
        row[0]
        for row in connection.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' "
            "ORDER BY pageno",
            (tree,),
        )
    ]
    connection.close()
    with path.open("r+b") as stream:
        stream.seek((pages[len(pages) // 2] - 1) * 4096 + offset)
        stream.write(b"\xab" * size)


def test_full_repair_of_a_damaged_index_page_keeps_every_run_in_place(
    home: Path,
) -> None:
    path = home / "data" / "history.sqlite3"
    many_runs(path)
    overwrite_a_leaf_page(path, "runs_by_user", 100, 200)

    found = plan_runner(home, "check", "--full")
    repaired = plan_runner(home, "check", "--full", "--repair")

    assert found.returncode == 9, found.stdout + found.stderr
    assert "runs_by_user" in found.stdout
    assert "more)" in found.stdout  # SQLite's many lines, cut to three
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "No run was lost" in repaired.stdout
    assert list(path.parent.glob("*.corrupt-*")) == []
    assert plan_runner(home, "check", "--full").returncode == 0
    assert len(json.loads(plan_runner(home, "--json", "--limit", "0").stdout)) == 5001


def test_listing_a_history_with_a_damaged_page_keeps_the_other_runs_and_says_so(
    home: Path,
) -> None:
    path = home / "data" / "history.sqlite3"
    many_runs(path)
    overwrite_a_leaf_page(path, "runs", 0, 4096)

    listed = plan_runner(home, "--json", "--limit", "0")

    assert listed.returncode == 0, listed.stderr
    kept = len(json.loads(listed.stdout))
    assert 4800 < kept < 5001
    warnings = listed.stderr.strip().splitlines()
    assert len(warnings) == 2, listed.stderr  # what is being done, what was done
    assert "copying the runs" in warnings[0]
    assert f"{kept:,} of its runs were copied" in warnings[1]
    assert f"{5001 - kept:,} could not be read" in warnings[1]
    assert "corrupt-" in warnings[1]


def test_check_without_a_history_exits_0_and_creates_nothing(home: Path) -> None:
    result = plan_runner(home, "check", "--full")

    assert result.returncode == 0, result.stderr
    assert "no history yet" in result.stdout
    assert not (home / "data" / "history.sqlite3").exists()


def test_listing_options_still_work_beside_the_check_command(
    home: Path, filled: dict[str, int]
) -> None:
    result = plan_runner(home, "--outcome", "auth", "--json")

    assert result.returncode == 0, result.stderr
    assert [row["id"] for row in json.loads(result.stdout)] == [filled["auth"]]


# --- DATE parsing, in process ------------------------------------------------------

LOCAL_NOW = datetime(2026, 12, 1, 15, 0).astimezone()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", LOCAL_NOW - timedelta(days=7)),
        ("12h", LOCAL_NOW - timedelta(hours=12)),
        ("30m", LOCAL_NOW - timedelta(minutes=30)),
        ("2W", LOCAL_NOW - timedelta(weeks=2)),
        ("2026-11-20", datetime(2026, 11, 20).astimezone()),
        ("2026-11-20T08:15", datetime(2026, 11, 20, 8, 15).astimezone()),
        ("2026-11-20T08:15:00Z", datetime(2026, 11, 20, 8, 15, tzinfo=UTC)),
        (
            "2026-11-20T08:15:00+02:00",
            datetime(2026, 11, 20, 6, 15, tzinfo=UTC),
        ),
    ],
)
def test_parse_when_forms(text: str, expected: datetime) -> None:
    assert parse_when(text, "--since", LOCAL_NOW) == expected


def test_until_with_a_bare_date_includes_that_whole_day() -> None:
    assert (
        parse_when("2026-11-20", "--until", LOCAL_NOW, end_of_day=True)
        == datetime(2026, 11, 21).astimezone()
    )


@pytest.mark.parametrize("text", ["", "yesterday", "7 days", "-7d", "2026/11/20"])
def test_parse_when_refuses_other_text(text: str) -> None:
    with pytest.raises(InputError, match="--since"):
        parse_when(text, "--since", LOCAL_NOW)
