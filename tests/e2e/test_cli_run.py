"""``plan-runner run`` as a subprocess, against ``plan-runner simulate`` on loopback,
with the token in the real Secret Service keyring: every exit code at least once."""

import json
import signal
import subprocess
import sys
import time

import pytest

TOKEN = "e2e-Token_0123456789.abcdefghij"


@pytest.fixture
def gateway(start_simulator):
    return start_simulator(
        "--token", TOKEN, "--plans", "681,9223372036854775807", "--users", "1,7"
    )


def setup_profile(cli, name, url, token=TOKEN):
    added = cli("profile", "add", name, "--gateway", url, "--default-user", "1")
    assert added.returncode == 0, added.stderr
    stored = cli("token", "set", "--profile", name, stdin=f"Bearer {token}\n")
    assert stored.returncode == 0, stored.stderr
    assert token not in stored.stdout + stored.stderr
    return stored


def test_queued_with_the_token_from_the_real_keyring_exits_0(
    cli, profile_name, gateway, secret_service
):
    stored = setup_profile(cli, profile_name, gateway.url)
    assert secret_service in stored.stdout

    result = cli("run", "--plan", "681", "--profile", profile_name, "--json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["outcome"] == "queued"
    assert document["queued"] is True
    assert document["plan_id"] == 681
    assert document["user_id"] == 1
    assert document["profile"] == profile_name
    assert document["gateway_url"] == gateway.url + "/queue"
    assert document["http_status"] == 200
    assert document["code"] == 0


def test_the_token_lives_in_the_keyring_and_nowhere_in_the_files(
    cli, profile_name, gateway
):
    import keyring

    setup_profile(cli, profile_name, gateway.url)
    cli("run", "--plan", "681", "--profile", profile_name)

    entry = json.loads(keyring.get_password("plan-runner", profile_name))
    assert entry == {"gateway_url": gateway.url, "token": TOKEN}
    for path in cli.home.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_largest_ids_arrive_digit_for_digit(cli, profile_name, gateway):
    setup_profile(cli, profile_name, gateway.url)
    result = cli(
        "run",
        "--plan",
        "9223372036854775807",
        "--user",
        "7",
        "--profile",
        profile_name,
        "--json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["plan_id"] == 9223372036854775807
    assert "planId=9223372036854775807, userId=7" in gateway.stop()


def test_bad_input_exits_2_and_sends_nothing(cli, profile_name, gateway):
    setup_profile(cli, profile_name, gateway.url)
    for plan in ("abc", "0", "9223372036854775808", "1.5"):
        result = cli("run", "--plan", plan, "--profile", profile_name)
        assert result.returncode == 2, (plan, result.stderr)
        assert "Traceback" not in result.stderr
    assert "POST" not in gateway.stop()


def test_a_wrong_token_exits_3(cli, profile_name, gateway):
    setup_profile(cli, profile_name, gateway.url, token="not-the-right-token")
    result = cli("run", "--plan", "681", "--profile", profile_name)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "AUTH FAILED" in result.stdout
    assert "not-the-right-token" not in result.stdout + result.stderr


def test_an_unknown_plan_exits_4_with_the_plan_named(cli, profile_name, gateway):
    setup_profile(cli, profile_name, gateway.url)
    result = cli("run", "--plan", "5", "--profile", profile_name)
    assert result.returncode == 4
    assert "Plan 5 was not found" in result.stdout


def test_an_unknown_user_exits_4(cli, profile_name, gateway):
    setup_profile(cli, profile_name, gateway.url)
    result = cli("run", "--plan", "681", "--user", "2", "--profile", profile_name)
    assert result.returncode == 4
    assert "User 2 was not found" in result.stdout


@pytest.mark.parametrize("scenario", ["html502", "ratelimit", "redirect", "notfound"])
def test_a_gateway_error_exits_5(cli, start_simulator, scenario):
    sim = start_simulator("--token", TOKEN, "--scenario", scenario)
    result = cli(
        "run", "--gateway", sim.url, "--plan", "681", "--user", "1", token=TOKEN
    )
    assert result.returncode == 5, result.stdout + result.stderr


def test_a_closed_port_exits_6(cli, start_simulator):
    sim = start_simulator()
    url = sim.url
    sim.stop()
    result = cli("run", "--gateway", url, "--plan", "681", "--user", "1", token=TOKEN)
    assert result.returncode == 6
    assert "NOT SENT" in result.stdout


def test_a_dropped_connection_exits_7_and_is_sent_once(cli, start_simulator):
    sim = start_simulator("--token", TOKEN, "--scenario", "drop")
    result = cli(
        "run",
        "--gateway",
        sim.url,
        "--plan",
        "681",
        "--user",
        "1",
        "--json",
        token=TOKEN,
    )
    assert result.returncode == 7
    assert json.loads(result.stdout)["outcome"] == "unknown"
    assert sim.stop().count("POST") == 1


def test_a_read_timeout_exits_7(cli, start_simulator):
    sim = start_simulator("--token", TOKEN, "--scenario", "slow", "--slow-seconds", "5")
    result = cli(
        "run",
        "--gateway",
        sim.url,
        "--plan",
        "681",
        "--user",
        "1",
        "--timeout",
        "1",
        token=TOKEN,
    )
    assert result.returncode == 7
    assert "may have been queued" in result.stdout


def test_no_token_stored_exits_8(cli, profile_name, gateway):
    added = cli(
        "profile", "add", profile_name, "--gateway", gateway.url, "--default-user", "1"
    )
    assert added.returncode == 0
    result = cli("run", "--plan", "681", "--profile", profile_name)
    assert result.returncode == 8
    assert "No token is stored" in result.stderr


def test_plain_http_to_a_remote_host_needs_consent_exits_8(cli):
    result = cli(
        "run",
        "--gateway",
        "http://gw.example.test",
        "--plan",
        "1",
        "--user",
        "1",
        token=TOKEN,
    )
    assert result.returncode == 8
    assert "unencrypted" in result.stderr


def test_a_proxy_value_the_run_leaves_out_is_named_and_the_run_goes_on(cli):
    for name in list(cli.env):
        if name.lower().endswith("_proxy"):
            del cli.env[name]
    cli.env["HTTPS_PROXY"] = "http://"
    result = cli(
        "run",
        "--gateway",
        "https://gw.example.invalid",
        "--plan",
        "1",
        "--user",
        "1",
        "--json",
        token=TOKEN,
    )
    assert (
        "A proxy setting is ignored: HTTPS_PROXY='http://' is not a proxy URL"
        in result.stderr
    )
    # Without it, the run goes straight to the gateway (a name that never resolves).
    assert json.loads(result.stdout)["outcome"] == "network"
    assert "proxy" not in json.loads(result.stdout)["title"].lower()


def test_profiles_are_listed_and_removed_with_their_token(cli, profile_name, gateway):
    import keyring

    setup_profile(cli, profile_name, gateway.url)
    listed = cli("profile", "list", "--json")
    rows = json.loads(listed.stdout)
    assert rows[0]["name"] == profile_name
    assert rows[0]["has_token"] is True
    assert TOKEN not in listed.stdout

    assert cli("token", "clear", "--profile", profile_name).returncode == 0
    assert (
        json.loads(keyring.get_password("plan-runner", profile_name))["token"] is None
    )
    assert cli("profile", "remove", profile_name).returncode == 0
    assert keyring.get_password("plan-runner", profile_name) is None
    assert json.loads(cli("profile", "list", "--json").stdout) == []


# Another program that opens the history and leaves a write transaction open,
# as an SQLite browser or `sqlite3 history.sqlite3 'BEGIN EXCLUSIVE; …'` does.
HOLDER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
connection.execute("DELETE FROM runs")
print("locked", flush=True)
sys.stdin.read()
connection.execute("ROLLBACK")
"""


def test_a_history_locked_by_another_program_still_sends_and_says_why_not_saved(
    cli, gateway
):
    first = cli(
        "run", "--gateway", gateway.url, "--plan", "681", "--user", "1", token=TOKEN
    )
    assert first.returncode == 0, first.stdout + first.stderr
    path = cli.home / "data" / "history.sqlite3"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        started = time.monotonic()
        result = cli(
            "run",
            "--gateway",
            gateway.url,
            "--plan",
            "681",
            "--user",
            "7",
            "--json",
            token=TOKEN,
        )
        waited = time.monotonic() - started
    finally:
        holder.communicate("", timeout=10)

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["outcome"] == "queued"
    assert waited < 8
    assert "another program" in result.stderr
    assert str(path) in result.stderr
    assert "Close that program" in result.stderr
    assert "not in the history" in result.stderr
    rows = json.loads(cli("history", "--json").stdout)
    assert [row["user_id"] for row in rows] == [1]
    assert gateway.stop().count("POST") == 2


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_while_waiting_records_the_run_as_unknown(
    cli, start_simulator, signum
):
    sim = start_simulator("--token", TOKEN, "--scenario", "hang")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "app", "run", "--gateway", sim.url),
            *("--plan", "681", "--user", "1", "--json"),
        ],
        env={**cli.env, "PLAN_RUNNER_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=10)

    assert process.returncode == 7, stdout + stderr
    assert json.loads(stdout)["outcome"] == "unknown"
    assert f"Stopped by {signal.Signals(signum).name}" in stderr
    history = json.loads(cli("history", "--json").stdout)
    assert [row["outcome"] for row in history] == ["unknown"]
    assert sim.stop().count("POST") == 1
