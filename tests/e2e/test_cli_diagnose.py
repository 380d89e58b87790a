"""``plan-runner status`` and ``plan-runner diagnose`` as subprocesses, against
``plan-runner simulate`` on loopback, with tokens in the real Secret Service."""

import base64
import ipaddress
import json
import socket
import subprocess
import sys
import time
import urllib.parse
import zipfile

import jwt
import pytest
from silent_bus import SilentBus

from app.core.secrets import KEYRING_TIMEOUT_SECONDS

TOKEN = "e2e-Diag+Token/0123456789_abcdef=="
ENV_TOKEN = "e2e-Env-Token_9876543210.zyxwvu"


def forms(token):
    raw = token.encode()
    found = {token, urllib.parse.quote(token, safe="")}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        found |= {encoded, encoded.rstrip("=")}
    return found


@pytest.fixture
def gateway(start_simulator):
    return start_simulator("--token", TOKEN, "--plans", "681", "--users", "1")


def setup_profile(cli, name, url, token=TOKEN):
    added = cli("profile", "add", name, "--gateway", url, "--default-user", "1")
    assert added.returncode == 0, added.stderr
    stored = cli("token", "set", "--profile", name, stdin=token)
    assert stored.returncode == 0, stored.stderr


def this_machine_address():
    """Return an address of this machine that is not a loopback one, or skip.

    Proxies apply only to a gateway on another machine; a simulator listening on
    this address is reached the way such a gateway would be, and still stays on
    this machine.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            # Connecting a UDP socket sends nothing: it only picks the address
            # this machine would send from (a documentation address, never used).
            probe.connect(("198.51.100.1", 9))
            address = probe.getsockname()[0]
        except OSError as error:
            pytest.skip(f"this machine has no route off the loopback ({error})")
    parsed = ipaddress.ip_address(address)
    if parsed.is_loopback or parsed.is_unspecified:
        pytest.skip(f"this machine has no address but the loopback ({address})")
    return address


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_status_json_describes_the_stored_token_without_it(
    cli, profile_name, gateway, secret_service
):
    setup_profile(cli, profile_name, gateway.url)

    result = cli("status", "--profile", profile_name, "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["profile"] == profile_name
    assert report["gateway"]["queue_url"] == gateway.url + "/queue"
    assert report["keyring"] == {
        "backend": secret_service,
        "persistent": True,
        "problem": None,
    }
    token = report["token"]
    assert token["stored"] is True
    assert token["source"] == secret_service
    assert token["length"] == len(TOKEN)
    assert token["is_jwt"] is False
    assert token["expiry"] == "expiry unknown (not a JWT)"
    assert report["verdict"] == "ok"
    for form in forms(TOKEN):
        assert form not in result.stdout + result.stderr


def test_status_of_an_expired_jwt_exits_3(cli, profile_name, gateway):
    now = int(time.time())
    expired = jwt.encode(
        {"sub": "qa-anna", "iat": now - 4 * 3600, "exp": now - 3 * 3600},
        "k" * 32,
        algorithm="HS256",
    )
    setup_profile(cli, profile_name, gateway.url, token=expired)

    result = cli("status", "--profile", profile_name)

    assert result.returncode == 3, result.stdout + result.stderr
    assert "expired 3 h ago" in result.stdout
    assert "Verdict: token problem (exit code 3)" in result.stdout
    assert f"plan-runner token set --profile {profile_name}" in result.stdout
    assert expired not in result.stdout + result.stderr


def test_status_with_only_the_environment_token_says_a_profile_is_missing(cli):
    result = cli("status", "--json", token=ENV_TOKEN)

    assert result.returncode == 8, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["profile"] is None
    assert report["token"]["source"].startswith(
        "the environment variable PLAN_RUNNER_TOKEN"
    )
    assert report["token"]["length"] == len(ENV_TOKEN)
    assert report["verdict"] == "setup problem"
    assert ENV_TOKEN not in result.stdout + result.stderr


def test_diagnose_passes_every_step_and_never_posts(cli, profile_name, gateway):
    setup_profile(cli, profile_name, gateway.url)

    result = cli("diagnose", "--profile", profile_name)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Doctor for {gateway.url}")
    assert any(line.startswith("[ ok ] TCP connect") for line in lines)
    assert any(line.startswith("[skip] TLS handshake") for line in lines)
    assert any(
        line.startswith("[ ok ] HTTP") and "answered with HTTP 200" in line
        for line in lines
    )
    assert "Result: reachable (exit code 0)" in result.stdout
    log = gateway.stop()
    assert "GET / -> 200" in log
    assert "POST" not in log


def test_diagnose_output_writes_a_bundle_with_no_token_in_it(
    cli, profile_name, gateway, tmp_path
):
    setup_profile(cli, profile_name, gateway.url)
    ran = cli("run", "--plan", "681", "--profile", profile_name)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    target = tmp_path / "x.zip"

    result = cli(
        "diagnose",
        "--profile",
        profile_name,
        "--output",
        str(target),
        "--history",
        "5",
        token=ENV_TOKEN,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Diagnostic bundle written to {target}" in result.stdout
    assert f"token of profile '{profile_name}'" in result.stdout
    assert "token in PLAN_RUNNER_TOKEN" in result.stdout
    with zipfile.ZipFile(target) as bundle:
        contents = {name: bundle.read(name).decode() for name in bundle.namelist()}
    manifest = json.loads(contents["manifest.json"])
    assert [item["name"] for item in manifest["files"]] == list(contents)
    assert {"summary.txt", "status.json", "doctor.json", "history.json"} <= set(
        contents
    )
    assert any(name.startswith("logs/") for name in contents)
    history = json.loads(contents["history.json"])
    assert [row["plan_id"] for row in history] == [681]
    assert history[0]["outcome"] == "queued"
    assert json.loads(contents["doctor.json"])[-1]["verdict"] == "ok"
    raw = target.read_bytes()
    for secret in (TOKEN, ENV_TOKEN):
        for form in forms(secret):
            assert form.encode() not in raw
            for name, text in contents.items():
                assert form not in text, (name, form)
            assert form not in result.stdout + result.stderr


def test_diagnose_a_closed_port_exits_6_with_the_steps_skipped(cli):
    result = cli("diagnose", "--gateway", closed_port_url(), "--json")

    assert result.returncode == 6, result.stdout + result.stderr
    document = json.loads(result.stdout)
    verdicts = [step["verdict"] for step in document["steps"]]
    assert verdicts == ["ok", "ok", "failed", "skipped", "skipped"]
    assert "refused the connection" in document["steps"][2]["detail"]
    assert document["exit_code"] == 6


def test_diagnose_an_unresolvable_host_exits_6(cli):
    result = cli(
        "diagnose", "--gateway", "https://nonexistent.invalid", "--timeout", "3"
    )

    assert result.returncode == 6, result.stdout + result.stderr
    assert "[FAIL] DNS" in result.stdout
    assert "cannot find nonexistent.invalid" in result.stdout


def test_diagnose_without_any_profile_is_a_setup_problem(cli):
    result = cli("diagnose")
    assert result.returncode == 8
    assert "No profile exists yet" in result.stderr
    assert "Traceback" not in result.stderr


def test_diagnose_with_a_malformed_proxy_variable_reports_it(cli, start_simulator):
    gateway = start_simulator("--host", this_machine_address(), "--token", TOKEN)
    cli.env["HTTP_PROXY"] = "http://proxy:notaport"
    cli.env.pop("NO_PROXY", None)
    cli.env.pop("no_proxy", None)
    result = cli("diagnose", "--gateway", gateway.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "[warn] Proxy" in result.stdout
    assert "HTTP_PROXY='http://proxy:notaport'" in result.stdout
    assert "Traceback" not in result.stderr


def test_diagnose_reaches_a_gateway_on_this_machine_directly(cli, gateway):
    dead_proxy = closed_port_url()
    cli.env.update(HTTP_PROXY=dead_proxy, http_proxy=dead_proxy, ALL_PROXY=dead_proxy)
    cli.env.pop("NO_PROXY", None)
    cli.env.pop("no_proxy", None)
    result = cli("diagnose", "--gateway", gateway.url, "--timeout", "3")

    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "[ ok ] Proxy          No proxy: connects directly, because the gateway is "
        "on this machine" in result.stdout
    )
    assert dead_proxy not in result.stdout
    assert "Traceback" not in result.stderr


def diagnose_without_keyring(cli, tmp_path, keyring, *args):
    """Run ``plan-runner diagnose`` with no keyring, or one whose bus never answers."""
    env = dict(cli.env)
    if keyring == "no backend":
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
        return timed_run(env, "diagnose", *args)
    with SilentBus(tmp_path / "bus") as address:
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        return timed_run(env, "diagnose", *args)


def timed_run(env, *args):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=KEYRING_TIMEOUT_SECONDS + 60,
        check=False,
    )
    return result, time.monotonic() - started


@pytest.mark.parametrize("keyring", ["no backend", "silent D-Bus"])
def test_diagnose_writes_a_bundle_without_gateway_checks_when_the_keyring_fails(
    cli, profile_name, tmp_path, keyring
):
    setup_profile(cli, profile_name, closed_port_url())
    target = tmp_path / "b.zip"

    result, seconds = diagnose_without_keyring(
        cli, tmp_path, keyring, "--profile", profile_name, "--output", str(target)
    )

    output = result.stdout + result.stderr
    assert result.returncode == 10, output
    assert seconds < KEYRING_TIMEOUT_SECONDS + 10
    assert "Traceback" not in output
    assert "The gateway was not checked: its URL is not known." in result.stderr
    assert "bundle was written without the gateway checks" in result.stderr
    assert f"Diagnostic bundle written to {target}" in result.stdout
    with zipfile.ZipFile(target) as bundle:
        contents = {name: bundle.read(name).decode() for name in bundle.namelist()}
    assert "doctor.json" not in contents
    summary = contents["summary.txt"]
    assert "The gateway was not checked" in summary
    # The keyring's problem is the finding support needs.
    status = json.loads(contents["status.json"])[profile_name]
    assert status["exit_code"] == 8
    assert any("keyring" in p["message"].lower() for p in status["problems"])
    manifest = json.loads(contents["manifest.json"])
    assert any("The gateway was not checked" in note for note in manifest["notes"])
    for form in forms(TOKEN):
        assert form.encode() not in target.read_bytes()
        assert form not in output


def test_diagnose_json_without_keyring_says_the_gateway_was_not_checked(
    cli, profile_name, tmp_path
):
    setup_profile(cli, profile_name, closed_port_url())
    target = tmp_path / "b.zip"

    result, _ = diagnose_without_keyring(
        cli,
        tmp_path,
        "no backend",
        "--profile",
        profile_name,
        "--output",
        str(target),
        "--json",
    )

    assert result.returncode == 10, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["exit_code"] == 10
    assert document["steps"] == []
    assert document["gateway_url"] is None
    assert "its URL is not known" in document["gateway_unchecked"]
    assert document["bundle"]["path"] == str(target.resolve())
    assert target.is_file()


def test_diagnose_without_keyring_and_without_a_bundle_is_still_a_setup_problem(
    cli, profile_name, tmp_path
):
    setup_profile(cli, profile_name, closed_port_url())

    result, _ = diagnose_without_keyring(
        cli, tmp_path, "no backend", "--profile", profile_name
    )

    assert result.returncode == 8, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
