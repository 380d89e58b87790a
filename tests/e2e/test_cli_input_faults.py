"""Bad input and odd setups as a script meets them: exit 2 or 8, never a traceback."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "app"]
TOKEN = "input-faults-token-0123456789"


@pytest.fixture
def gateway(start_simulator):
    return start_simulator("--token", TOKEN, "--plans", "681", "--users", "1")


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    text = result.stdout + result.stderr
    assert "Traceback" not in text
    assert "unexpected error" not in text


def with_closed_reader(cli, *args: str, token: str | None = None):
    """Run the command with a standard output whose reader has already gone."""
    env = dict(cli.env)
    if token is not None:
        env["PLAN_RUNNER_TOKEN"] = token
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails with EPIPE
    try:
        return subprocess.run(
            [*CLI, *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)


# Bad input: exit 2 -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plan", "9" * 100_000, "--user", "1"], "too large"),
        (["--plan", "1", "--user", "1" + "0" * 5_000], "too large"),
    ],
)
def test_over_long_ids_exit_2(cli, gateway, args, message):
    result = cli("run", "--gateway", gateway.url, *args, token=TOKEN)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    no_traceback(result)


@pytest.mark.parametrize(
    "url",
    [
        "https://\uff47\uff57.example.com",
        "https://256.256.256.256",
        "https://xn--zz.example",
    ],
)
def test_gateway_urls_the_client_refuses_exit_2_before_sending(cli, url):
    result = cli("run", "--gateway", url, "--plan", "1", "--user", "1", token=TOKEN)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "gateway" in result.stderr
    no_traceback(result)


@pytest.mark.parametrize(
    "name", ["a\nb", "x" * 61, "esc\x1b[0m", "rtl\u202eoverride", "zero\u200bwidth"]
)
def test_bad_profile_names_exit_2(cli, name):
    result = cli("profile", "add", name, "--gateway", "https://gw.example.test")
    assert result.returncode == 2, result.stderr
    assert "Invalid profile name" in result.stderr
    no_traceback(result)


@pytest.mark.parametrize("value", ["", "   "])
def test_a_blank_token_variable_exits_2(cli, gateway, value):
    result = cli(
        "run", "--gateway", gateway.url, "--plan", "681", "--user", "1", token=value
    )
    assert result.returncode == 2
    assert "PLAN_RUNNER_TOKEN is set but empty" in result.stderr
    assert "not set" not in result.stderr


# A reader that leaves early --------------------------------------------------------


@pytest.mark.parametrize(("plan", "code"), [("681", 0), ("5", 4)])
def test_run_into_a_closed_pipe_keeps_its_exit_code_quietly(cli, gateway, plan, code):
    for form in ([], ["--json"]):
        result = with_closed_reader(
            cli,
            "run",
            "--gateway",
            gateway.url,
            "--plan",
            plan,
            "--user",
            "1",
            *form,
            token=TOKEN,
        )
        assert result.returncode == code, result.stderr
        assert result.stderr == ""


def test_history_and_help_into_a_closed_pipe_exit_0_quietly(cli, gateway):
    for _ in range(3):
        cli(
            "run", "--gateway", gateway.url, "--plan", "681", "--user", "1", token=TOKEN
        )
    for args in (["history"], ["history", "--json"], ["history", "--csv"], ["--help"]):
        result = with_closed_reader(cli, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stderr == "", args


def test_the_runs_printed_into_a_closed_pipe_are_in_the_history(cli, gateway):
    result = with_closed_reader(
        cli,
        "run",
        "--gateway",
        gateway.url,
        "--plan",
        "681",
        "--user",
        "1",
        token=TOKEN,
    )
    assert result.returncode == 0
    listed = json.loads(cli("history", "--json").stdout)
    assert [row["outcome"] for row in listed] == ["queued"]


# Local setup: exit 8 or a warning --------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["history"],
        ["profile", "list"],
        ["status"],
        ["run", "--gateway", "http://127.0.0.1:9", "--plan", "1", "--user", "1"],
    ],
)
def test_a_home_that_is_a_file_is_one_setup_error(cli, args):
    cli.home.parent.mkdir(parents=True, exist_ok=True)
    cli.home.write_text("not a folder")
    result = cli(*args, token=TOKEN)
    assert result.returncode == 8, result.stderr
    assert result.stderr.splitlines() == [
        f"plan-runner: PLAN_RUNNER_HOME must be a folder, but {cli.home} is a file. "
        "Point PLAN_RUNNER_HOME at a folder (it is created when missing), or move "
        "the file away."
    ]
    assert "File logging is off" not in result.stderr


def test_deeply_nested_settings_start_with_defaults_and_a_warning(cli):
    settings = cli.home / "config" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text("[" * 100_000 + "]" * 100_000)
    result = cli("profile", "list")
    assert result.returncode == 0, result.stderr
    assert "nested too deeply" in result.stderr
    assert "No profiles yet" in result.stdout
    no_traceback(result)


def test_history_rows_edited_by_hand_are_listed(cli, gateway):
    for _ in range(2):
        cli(
            "run", "--gateway", gateway.url, "--plan", "681", "--user", "1", token=TOKEN
        )
    connection = sqlite3.connect(cli.home / "data" / "history.sqlite3")
    with connection:
        connection.execute("update runs set started_at = 'abc', facts = 'not json'")
    connection.close()
    for form in ([], ["--json"], ["--csv"]):
        result = cli("history", *form)
        assert result.returncode == 0, result.stderr
        no_traceback(result)
    rows = json.loads(cli("history", "--json").stdout)
    assert [row["started_at"] for row in rows] == [None, None]
    assert all("started_at='abc'" in row["facts"]["unreadable"] for row in rows)


# A gateway that moves while a token is stored (real keyring) -----------------------


def test_moving_a_profile_to_another_host_warns_about_its_token(cli, profile_name):
    name = profile_name
    added = cli("profile", "add", name, "--gateway", "http://127.0.0.1:18092/ok")
    assert added.returncode == 0, added.stderr
    stored = cli("token", "set", "--profile", name, stdin=TOKEN)
    assert stored.returncode == 0, stored.stderr

    moved = cli("profile", "add", name, "--gateway", "http://localhost:18092/x")

    assert moved.returncode == 0, moved.stderr
    assert (
        f"The token stored for {name!r} was set for http://127.0.0.1:18092; runs "
        "now go to http://localhost:18092. If the token belongs to the old "
        f"environment, set a new one: plan-runner token set --profile {name}"
    ) in moved.stderr
    listed = json.loads(cli("profile", "list", "--json").stdout)
    assert [row["has_token"] for row in listed if row["name"] == name] == [True]

    same_host = cli("profile", "add", name, "--gateway", "http://localhost:18092/y")
    assert "token stored" not in same_host.stderr
