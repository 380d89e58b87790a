"""Bad input of every kind gets a message for a person, never a traceback."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import sample_outcome

from app.cli import commands, main
from app.cli.commands import build_parser
from app.cli.context import CliContext, ReaderAwareStream, reader_gone
from app.cli.history import parse_when
from app.core.contract import LONG_MAX, parse_id
from app.core.errors import InputError, SetupError
from app.core.history import (
    UNKNOWN_TIME,
    UNREADABLE,
    HistoryFilter,
    HistoryStore,
    export_csv,
    export_json,
    iter_rows,
)
from app.core.outcome import Category, Outcome
from app.core.paths import AppPaths, check_folders
from app.core.settings import (
    MAX_FILE_BYTES,
    Policy,
    Profile,
    Settings,
    SettingsStore,
    build_profile,
    load_policy,
)
from app.core.urls import parse_gateway_url
from app.core.workspace import Workspace

# IDs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "9" * 100_000,
        "1" + "0" * 5_000,
        str(LONG_MAX + 1),
        "9" * 20,
    ],
)
def test_an_id_with_too_many_digits_is_too_large_not_a_crash(text):
    with pytest.raises(InputError, match="too large"):
        parse_id(text, "plan")


def test_leading_zeros_do_not_count_towards_an_ids_size():
    assert parse_id("0" * 100_000 + "42", "plan") == 42
    assert parse_id("0" * 10 + str(LONG_MAX), "plan") == LONG_MAX


def test_an_id_of_many_zeros_is_below_one():
    with pytest.raises(InputError, match="1 or more"):
        parse_id("0" * 100_000, "plan")


# Gateway URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("https://\uff47\uff57.example.com", "ordinary letters: gw.example.com"),
        ("https://\uff27\uff37.example.com/api", "ordinary letters: gw.example.com"),
        ("https://xn--zz.example", "'xn--'"),
        ("https://256.256.256.256", "not a valid IPv4 address"),
        ("https://01.2.3.4", "not a valid IPv4 address"),
        ("https://10.1", "not a valid IPv4 address"),
        ("https://0x7f.1", "not a valid IPv4 address"),
        ("https://2130706433", "not a valid IPv4 address"),
        ("https://gw..example.com", "empty part"),
        ("https://gw%41.example.com", "only letters, digits"),
        ("https://" + "a" * 64 + ".example.com", "too long"),
        ("https://[::1]junk/x", "after the ']'"),
        ("https://gw.exa\u202emple.com", "invisible characters"),
        ("https://gw.exa\u200bmple.com", "invisible characters"),
        ("https://gw.example.com/\x7f", "invisible characters"),
        ("https://gw.example.com/" + "a" * 70_000, "not valid"),
    ],
)
def test_gateway_urls_the_http_client_would_refuse_are_refused_first(text, message):
    with pytest.raises(InputError, match=message):
        parse_gateway_url(text)


@pytest.mark.parametrize(
    ("text", "queue_url"),
    [
        ("https://bücher.example/api", "https://bücher.example/api/queue"),
        ("https://10.0.0.5.:8443", "https://10.0.0.5:8443/queue"),
        ("http://build_agent.local", "http://build_agent.local/queue"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example/queue"),
    ],
)
def test_valid_unusual_gateway_urls_are_kept(text, queue_url):
    assert parse_gateway_url(text).queue_url == queue_url


_URL_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))
_URLISH = st.builds(
    "".join,
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "http://",
                    "https://",
                    "HTTPS://",
                    "[",
                    "]",
                    ":",
                    "::1",
                    "/",
                    ".",
                    "xn--",
                    "%",
                    "@",
                    "127.0.0.1",
                    "256",
                    "example.com",
                    "/queue",
                ]
            ),
            st.text(_URL_ALPHABET, max_size=6),
        ),
        max_size=12,
    ),
)


@settings(max_examples=3_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.text(), _URLISH))
def test_every_accepted_gateway_url_can_be_sent_by_the_http_client(text):
    try:
        url = parse_gateway_url(text)
    except InputError:
        return
    request = httpx.Request("POST", url.queue_url)
    assert request.url.host
    assert request.url.scheme in ("http", "https")


# Profile names ---------------------------------------------------------------------

BAD_NAMES = [
    ("a\nb", "line breaks"),
    ("esc\x1b[31m", "control characters"),
    ("evil\u202eexe", "invisible characters"),
    ("zero\u200bwidth", "invisible characters"),
    ("x" * 61, "at most 60"),
    ("   ", "needs a name"),
]


@pytest.fixture
def paths(tmp_path):
    return AppPaths.from_environment(
        {
            "PLAN_RUNNER_HOME": str(tmp_path / "home"),
            "PLAN_RUNNER_POLICY": str(tmp_path / "policy.json"),
        }
    )


@pytest.fixture
def workspace(paths, keyring_store, redactor):
    return Workspace.open(paths, redactor, keyring_store)


def cli_context(paths, redactor, keyring_store) -> CliContext:
    return CliContext(paths=paths, redactor=redactor, _secrets=keyring_store)


def run_handler(context: CliContext, *argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    return int(args.handler(args, context))


@pytest.mark.parametrize(("name", "why"), BAD_NAMES)
def test_profile_add_refuses_a_bad_name_with_a_message(
    paths, redactor, keyring_store, memory_keyring, name, why
):
    context = cli_context(paths, redactor, keyring_store)
    with pytest.raises(InputError, match=f"Invalid profile name: .*{why}"):
        run_handler(context, "profile", "add", name, "--gateway", "https://gw.test")
    assert memory_keyring.entries == {}
    assert not paths.settings_file.exists()


@pytest.mark.parametrize(("name", "why"), BAD_NAMES)
def test_profile_add_through_main_exits_2_without_a_traceback(
    paths, monkeypatch, capsys, name, why
):
    monkeypatch.setenv("PLAN_RUNNER_HOME", str(paths.config_dir.parent))
    code = main(["profile", "add", name, "--gateway", "https://gw.example.test"])
    err = capsys.readouterr().err
    assert code == 2
    assert why in err
    assert "Traceback" not in err
    assert "unexpected" not in err


@pytest.mark.parametrize(
    "changes",
    [{"name": "a\nb"}, {"name": "x" * 61}, {"read_timeout": 0}, {"colour": "red"}],
)
def test_save_profile_refuses_an_unvalidated_copy(workspace, changes):
    # model_copy(update=...) skips validation: the workspace checks again.
    profile = Profile(name="stage").model_copy(update=changes)
    with pytest.raises(InputError):
        workspace.save_profile(profile, gateway_url="https://gw.example.test")
    assert workspace.profiles() == []
    assert not workspace.settings_store.path.exists()


def test_build_profile_words_a_bad_value_for_a_person():
    with pytest.raises(InputError, match=r"'stage' cannot be saved: read_timeout"):
        build_profile({"name": " stage ", "read_timeout": 0})
    assert build_profile({"name": " stage "}).name == "stage"


# Broken pipes ----------------------------------------------------------------------


def test_a_stream_whose_reader_left_goes_quiet_instead_of_raising():
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as raw_stream:
        stream = ReaderAwareStream(raw_stream)
        stream.write("x" * 200_000)  # more than a pipe holds: the write fails
        stream.flush()
        print("more", file=stream, flush=True)
        assert stream.reader_gone
        assert reader_gone(stream)


def test_everything_a_command_prints_passes_through_its_redactor(
    tmp_path, monkeypatch, capsys
):
    # The last guard: a message that reaches the terminal without being redacted
    # (a new command's forgotten call) still loses the token on the way.
    token = "Zq7mK2pX9vR4tL8nW3yB6cH1dF5gJ0sA"
    monkeypatch.setenv("PLAN_RUNNER_HOME", str(tmp_path))

    def careless(args, context):
        context.redactor.add(token)
        print(f"the gateway said: {token}")
        print(f"warning: {token.lower()}", file=sys.stderr)
        return 0

    args = build_parser().parse_args(["history"])
    args.handler = careless
    with commands._reader_aware_streams():
        code = commands._command(args)

    printed = capsys.readouterr()
    assert code == 0
    assert printed.out == "the gateway said: [REDACTED]\n"
    assert printed.err == "warning: [REDACTED]\n"


# Settings and policy files ---------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "content", [DEEP, '{"profiles": ' + DEEP + "}", '{"a": ' * 50_000 + "1"]
)
def test_deeply_nested_settings_are_set_aside_not_a_crash(tmp_path, content):
    path = tmp_path / "settings.json"
    path.write_text(content)
    store = SettingsStore(path)
    assert store.load() == Settings()
    assert "nested too deeply" in store.load_problem or "not valid JSON" in (
        store.load_problem
    )
    assert "started with default settings" in store.load_problem
    assert len(list(tmp_path.glob("settings.json.bad-*"))) == 1
    store.save(Settings())  # not read-only: the user can go on


def test_an_absurdly_large_settings_file_is_not_read(tmp_path):
    path = tmp_path / "settings.json"
    policy_path = tmp_path / "policy.json"
    for each in (path, policy_path):
        with each.open("wb") as stream:
            stream.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    store = SettingsStore(path)
    assert store.load() == Settings()
    assert "too large" in store.load_problem
    policy, problem = load_policy(policy_path)
    assert policy == Policy()
    assert "too large" in problem


@pytest.mark.parametrize("content", [DEEP, '{"profiles": ' + DEEP + "}"])
def test_a_deeply_nested_policy_is_ignored_with_a_problem(tmp_path, content):
    path = tmp_path / "policy.json"
    path.write_text(content)
    policy, problem = load_policy(path)
    assert policy == Policy()
    assert "it is ignored" in problem


@pytest.mark.parametrize("version", ["true", "-1", "1.5", '"one"', "null"])
def test_an_invalid_schema_version_sets_the_file_aside_and_uses_defaults(
    tmp_path, version
):
    path = tmp_path / "settings.json"
    content = f'{{"schema_version": {version}, "profiles": [{{"name": "a"}}]}}'
    path.write_text(content)
    store = SettingsStore(path)
    assert store.load() == Settings()
    assert "invalid schema_version" in store.load_problem
    assert "started with default settings" in store.load_problem
    assert "It was kept as settings.json.bad-" in store.load_problem
    assert store.read_only_reason is None
    assert [p.read_text() for p in tmp_path.glob("settings.json.bad-*")] == [content]


def test_duplicate_profiles_keep_the_first_and_say_which_name(tmp_path):
    path = tmp_path / "settings.json"
    content = json.dumps(
        {
            "schema_version": 1,
            "profiles": [
                {"name": "stage", "default_user": 1},
                {"name": "prod"},
                {"name": "stage", "default_user": 2},
                {"name": "stage", "default_user": 3},
            ],
        }
    )
    path.write_text(content)
    store = SettingsStore(path)
    settings = store.load()
    assert [(p.name, p.default_user) for p in settings.profiles] == [
        ("stage", 1),
        ("prod", None),
    ]
    assert "more than one profile called 'stage'" in store.load_problem
    kept = list(tmp_path.glob("settings.json.duplicates-*"))
    assert [p.read_text() for p in kept] == [content]
    again = SettingsStore(path)
    assert [p.name for p in again.load().profiles] == ["stage", "prod"]
    assert again.load_problem is None


def test_duplicate_presets_in_the_policy_keep_the_first(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(
        json.dumps({"profiles": [{"name": "p", "critical": True}, {"name": "p"}]})
    )
    policy, problem = load_policy(path)
    assert [(p.name, p.critical) for p in policy.profiles] == [("p", True)]
    assert "more than one profile called 'p'" in problem


# History rows edited by hand -------------------------------------------------------

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def recorded(**changes: object) -> Outcome:
    return sample_outcome(NOW, **changes)


def edit(path: Path, sql: str) -> None:
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.execute(sql)
    finally:
        connection.close()


HAND_EDITS = [
    "update runs set started_at = 'abc', facts = 'not json' where id = 2",
    "update runs set finished_at = 1e300, plan_id = 'x', user_id = 1.5 where id = 3",
    "update runs set http_status = 'abc', duration_ms = x'00', profile = x'ff' "
    "where id = 4",
    "update runs set started_at = x'01', facts = '[1, 2]', title = x'c3' where id = 5",
    "update runs set started_at = 99999999999999999, code = x'00' where id = 6",
    "update runs set facts = '" + "[" * 5000 + "' where id = 7",
    "update runs set started_at = -99999999999999999, outcome = 5 where id = 8",
]


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    path = tmp_path / "home" / "data" / "history.sqlite3"
    with HistoryStore.open(path) as store:
        for n in range(10):
            store.record(recorded(started_at=NOW + timedelta(minutes=n)))
    for sql in HAND_EDITS:
        edit(path, sql)
    return path


def test_rows_edited_by_hand_are_read_with_notes_not_errors(edited: Path):
    with HistoryStore.open(edited) as store:
        rows = {row.id: row for row in store.page(HistoryFilter(), limit=100)}
        assert sorted(rows) == list(range(1, 11))

        bad_time = rows[2]
        assert bad_time.started_at == UNKNOWN_TIME
        assert "started_at='abc'" in bad_time.facts[UNREADABLE]
        assert "facts='not json'" in bad_time.facts[UNREADABLE]
        assert "attempts" not in bad_time.facts
        assert bad_time.to_dict()["started_at"] is None
        assert "unknown time" in bad_time.summary()

        assert rows[3].finished_at == UNKNOWN_TIME
        assert (rows[3].plan_id, rows[3].user_id) == (0, 0)
        assert "plan_id='x'" in rows[3].facts[UNREADABLE]
        assert rows[4].http_status is None
        assert rows[4].duration_ms == 0
        assert rows[4].profile == "\ufffd"
        assert rows[5].facts[UNREADABLE].count("=") == 2  # started_at and facts
        assert rows[6].started_at == UNKNOWN_TIME
        assert rows[6].code is None
        assert "facts=" in rows[7].facts[UNREADABLE]
        assert rows[8].outcome is Category.UNKNOWN
        assert rows[1].facts == {"attempts": "1"}

        for row in rows.values():
            json.dumps(row.to_dict())
            row.summary()
            assert store.get(row.id) == row


def test_keyset_pages_still_return_every_edited_row_once(edited: Path):
    with HistoryStore.open(edited) as store:
        everything = store.page(HistoryFilter(), limit=100)
        for size in (1, 2, 3):
            seen: list[int] = []
            before = None
            while True:
                page = store.page(HistoryFilter(), before=before, limit=size)
                seen.extend(row.id for row in page)
                if len(page) < size:
                    break
                before = page[-1].cursor
            assert seen == [row.id for row in everything]
        assert [row.id for row in iter_rows(store, HistoryFilter())] == [
            row.id for row in everything
        ]


def test_edited_rows_export_as_json_and_csv(edited: Path):
    with HistoryStore.open(edited) as store:
        out = io.StringIO()
        assert export_json(iter_rows(store, HistoryFilter()), out) == 10
        assert len(json.loads(out.getvalue())) == 10
        out = io.StringIO()
        assert export_csv(iter_rows(store, HistoryFilter()), out) == 10


def test_a_blob_profile_does_not_repeat_in_the_profile_list(edited: Path):
    with HistoryStore.open(edited) as store:
        assert store.profiles() == ["staging", "\ufffd"]


@pytest.mark.parametrize("form", [[], ["--json"], ["--csv"], ["--limit", "3"]])
def test_history_command_lists_edited_rows(edited, monkeypatch, capsys, form):
    monkeypatch.setenv("PLAN_RUNNER_HOME", str(edited.parent.parent))
    assert main(["history", *form]) == 0
    captured = capsys.readouterr()
    assert "unexpected" not in captured.err
    if form == ["--json"]:
        assert len(json.loads(captured.out)) == 10
    elif not form:
        assert "unknown" in captured.out


# History filters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("999999w", "--since"),
        ("0001-01-01", "--since"),
        ("9999-12-31", "--until"),
    ],
)
def test_dates_out_of_range_are_bad_input(text, option):
    now = datetime.now().astimezone()
    with pytest.raises(InputError, match="too far in the past or the future"):
        parse_when(text, option, now, end_of_day=option == "--until")


@pytest.mark.parametrize("field", ["profile", "text"])
def test_filters_with_undecodable_bytes_are_bad_input(field):
    with pytest.raises(InputError, match="not valid text"):
        HistoryFilter(**{field: "caf\udce9"})


# PLAN_RUNNER_TOKEN -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_a_set_but_blank_token_variable_is_bad_input(
    paths, redactor, monkeypatch, value
):
    monkeypatch.setenv("PLAN_RUNNER_TOKEN", value)
    context = CliContext(paths=paths, redactor=redactor)
    with pytest.raises(InputError, match="PLAN_RUNNER_TOKEN is set but empty; unset"):
        context.environment_token()


def test_an_unset_token_variable_means_the_stored_token(paths, redactor, monkeypatch):
    monkeypatch.delenv("PLAN_RUNNER_TOKEN", raising=False)
    assert CliContext(paths=paths, redactor=redactor).environment_token() is None


def test_run_with_a_blank_token_variable_exits_2(paths, monkeypatch, capsys):
    monkeypatch.setenv("PLAN_RUNNER_HOME", str(paths.config_dir.parent))
    monkeypatch.setenv("PLAN_RUNNER_TOKEN", "  ")
    code = main(
        ["run", "--plan", "1", "--user", "1", "--gateway", "http://127.0.0.1:9"]
    )
    assert code == 2
    assert "is set but empty" in capsys.readouterr().err


# A gateway that moves to another host ----------------------------------------------

OK_TOKEN = "unit-token-abcdef0123456789"


@pytest.mark.parametrize(
    "new_url",
    [
        "http://localhost:18092/x",
        "https://127.0.0.1:18092/ok",
        "http://127.0.0.1:18093/ok",
    ],
)
def test_moving_a_profile_with_a_token_to_another_origin_warns(
    paths, redactor, keyring_store, capsys, new_url
):
    context = cli_context(paths, redactor, keyring_store)
    run_handler(
        context, "profile", "add", "p", "--gateway", "http://127.0.0.1:18092/ok"
    )
    context.workspace.set_token("p", OK_TOKEN)
    capsys.readouterr()

    assert run_handler(context, "profile", "add", "p", "--gateway", new_url) == 0

    err = capsys.readouterr().err
    new_origin = parse_gateway_url(new_url).origin
    assert (
        f"The token stored for 'p' was set for http://127.0.0.1:18092; runs now go "
        f"to {new_origin}. If the token belongs to the old environment, set a new "
        "one: plan-runner token set --profile p"
    ) in err
    assert context.workspace.connection("p").token == OK_TOKEN


@pytest.mark.parametrize(
    ("token", "new_url"),
    [
        (OK_TOKEN, "http://127.0.0.1:18092/other/path"),
        (None, "http://localhost:18092/x"),
    ],
)
def test_no_warning_when_the_token_stays_at_its_origin_or_there_is_none(
    paths, redactor, keyring_store, capsys, token, new_url
):
    context = cli_context(paths, redactor, keyring_store)
    run_handler(
        context, "profile", "add", "p", "--gateway", "http://127.0.0.1:18092/ok"
    )
    if token:
        context.workspace.set_token("p", token)
    capsys.readouterr()
    assert run_handler(context, "profile", "add", "p", "--gateway", new_url) == 0
    assert "token stored" not in capsys.readouterr().err


# PLAN_RUNNER_HOME that is a file ---------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["history"],
        ["profile", "list"],
        ["run", "--plan", "1", "--user", "1", "--gateway", "http://127.0.0.1:9"],
        ["status"],
    ],
)
def test_a_home_that_is_a_file_is_one_setup_error(
    tmp_path, monkeypatch, capsys, command
):
    home = tmp_path / "not-a-folder"
    home.write_text("")
    monkeypatch.setenv("PLAN_RUNNER_HOME", str(home))
    monkeypatch.setenv("PLAN_RUNNER_TOKEN", OK_TOKEN)
    assert main(command) == 8
    err = capsys.readouterr().err
    assert err == (
        f"plan-runner: PLAN_RUNNER_HOME must be a folder, but {home} is a file. "
        "Point PLAN_RUNNER_HOME at a folder (it is created when missing), or move "
        "the file away.\n"
    )


def test_a_file_in_the_way_of_a_platform_folder_is_named(tmp_path):
    blocker = tmp_path / "config"
    blocker.write_text("")
    paths = AppPaths(
        config_dir=blocker / "plan-runner",
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        policy_file=tmp_path / "policy.json",
    )
    with pytest.raises(SetupError, match=f"but {blocker} is a file"):
        check_folders(paths)


def test_history_stops_reading_once_the_reader_has_gone(monkeypatch):
    from argparse import Namespace

    from app.cli import history as history_command
    from app.core.history import HistoryRow

    row = HistoryRow(
        id=1,
        started_at=NOW,
        finished_at=NOW,
        profile="p",
        gateway_url="https://gw.example.test/queue",
        plan_id=1,
        plan_name=None,
        user_id=1,
        user_name=None,
        outcome=Category.QUEUED,
        http_status=200,
        code=0,
        message="OK",
        title="Queued",
        advice="Nothing to do.",
        duration_ms=1,
        app_version=None,
        facts={},
    )
    read: list[int] = []

    def rows():
        for n in range(100_000):
            read.append(n)
            yield row

    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as raw_stream:
        stream = ReaderAwareStream(raw_stream)
        monkeypatch.setattr("sys.stdout", stream)
        history_command._emit(Namespace(json=True, csv=False), rows(), None)
        assert stream.reader_gone
    assert len(read) < 1_000
