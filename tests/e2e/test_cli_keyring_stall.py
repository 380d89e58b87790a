"""The command line against a keyring that never answers, or is not there at all.

Every keyring call is waited for ``KEYRING_TIMEOUT_SECONDS`` (10 s) at most, so
these tests take that long; the commands of one test run side by side.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from silent_bus import SilentBus

from app.core.secrets import KEYRING_TIMEOUT_SECONDS

TOKEN = "stall-token-0123456789abcdef"
GIVE_UP = KEYRING_TIMEOUT_SECONDS + 10
"""A command must have ended by then: the wait, plus a start-up on a busy machine."""
NO_ANSWER = f"did not answer within {KEYRING_TIMEOUT_SECONDS:g} s"

STALLED_KEYRING = """
import threading

import keyring.backend

NEVER = threading.Event()


class ReadStalls(keyring.backend.KeyringBackend):
    priority = 1
    name = "ReadStalls"

    def get_password(self, service, username):
        NEVER.wait()

    def set_password(self, service, username, password):
        NEVER.wait()

    def delete_password(self, service, username):
        NEVER.wait()


class WriteStalls(ReadStalls):
    name = "WriteStalls"

    def get_password(self, service, username):
        return None
"""


@dataclass
class Finished:
    """What a command did, and how long it took."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_side_by_side(
    env: dict[str, str], *commands: tuple[str, ...], stdin: str = ""
) -> list[Finished]:
    """Start every command at once; return each one's result when all ended."""
    started = time.monotonic()
    running = [
        (
            args,
            subprocess.Popen(
                [sys.executable, "-m", "app", *args],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for args in commands
    ]
    finished = []
    for args, process in running:
        try:
            stdout, stderr = process.communicate(
                stdin, timeout=max(1.0, GIVE_UP + 20 - (time.monotonic() - started))
            )
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        # Popen.communicate returns when the process has ended: its end is now
        # for the first one still running, earlier for the others.
        finished.append(
            Finished(
                args,
                process.returncode,
                stdout,
                stderr,
                time.monotonic() - started,
            )
        )
    return finished


@pytest.fixture
def silent_bus(tmp_path: Path) -> Iterator[str]:
    with SilentBus(tmp_path / "bus") as address:
        yield address


@pytest.fixture
def stalled_keyring(tmp_path: Path) -> Path:
    folder = tmp_path / "backends"
    folder.mkdir()
    (folder / "stalled_keyring.py").write_text(STALLED_KEYRING, encoding="utf-8")
    return folder


def add_profile(cli, name: str) -> None:
    added = cli(
        "profile", "add", name, "--gateway", "http://127.0.0.1:9", "--default-user", "1"
    )
    assert added.returncode == 0, added.stderr
    stored = cli("token", "set", "--profile", name, stdin=f"{TOKEN}\n")
    assert stored.returncode == 0, stored.stderr


def assert_gave_up_in_time(result: Finished) -> None:
    assert result.seconds < GIVE_UP, (
        f"{' '.join(result.args)} took {result.seconds:.1f} s"
    )
    assert result.returncode == 8, (result.args, result.returncode, result.output)
    assert "Traceback" not in result.output
    assert TOKEN not in result.output


def test_commands_end_with_a_keyring_error_when_the_session_bus_never_answers(
    cli, profile_name, silent_bus
):
    add_profile(cli, profile_name)
    env = {**cli.env, "DBUS_SESSION_BUS_ADDRESS": silent_bus}

    results = run_side_by_side(
        env,
        ("run", "--profile", profile_name, "--plan", "681"),
        ("status", "--profile", profile_name),
        ("token", "set", "--profile", profile_name),
        ("profile", "remove", profile_name),
        stdin=f"{TOKEN}\n",
    )

    for result in results:
        assert_gave_up_in_time(result)
        assert NO_ANSWER in result.output, result.output
        assert "gnome-keyring-daemon" in result.output
        # Nothing stands in for the unread keyring.
        assert "has no gateway URL" not in result.output
    # The profile was kept, with its token in the keyring: nothing is orphaned.
    listed = cli("profile", "list", "--json")
    assert [row["has_token"] for row in json.loads(listed.stdout)] == [True]


def test_a_read_that_never_returns_ends_the_run_with_a_keyring_error(
    cli, profile_name, stalled_keyring
):
    add_profile(cli, profile_name)
    env = {
        **cli.env,
        "PYTHONPATH": str(stalled_keyring),
        "PYTHON_KEYRING_BACKEND": "stalled_keyring.ReadStalls",
    }

    [result] = run_side_by_side(
        env, ("run", "--profile", profile_name, "--plan", "681")
    )

    assert_gave_up_in_time(result)
    assert f"{NO_ANSWER} when asked to read the token" in result.stderr


def test_a_write_that_never_returns_may_or_may_not_have_saved_the_token(
    cli, profile_name, stalled_keyring
):
    add_profile(cli, profile_name)
    env = {
        **cli.env,
        "PYTHONPATH": str(stalled_keyring),
        "PYTHON_KEYRING_BACKEND": "stalled_keyring.WriteStalls",
    }

    [result] = run_side_by_side(
        env, ("token", "set", "--profile", profile_name), stdin=f"{TOKEN}\n"
    )

    assert_gave_up_in_time(result)
    assert f"{NO_ANSWER} when asked to save the token" in result.stderr
    assert "may or may not have been saved" in result.stderr
    logs = "".join(
        path.read_text(encoding="utf-8") for path in cli.home.rglob("*.log*")
    )
    assert "no answer within" in logs
    assert TOKEN not in logs


@pytest.mark.parametrize("keyring", ["no D-Bus", "no backend", "silent D-Bus"])
def test_status_of_an_ad_hoc_gateway_takes_the_environment_token_without_keyring(
    cli, tmp_path, keyring
):
    env = {**cli.env, "PLAN_RUNNER_TOKEN": TOKEN}
    if keyring == "no D-Bus":
        env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path / 'no-bus'}"
    elif keyring == "no backend":
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"

    def status() -> list[Finished]:
        return run_side_by_side(
            env, ("status", "--gateway", "http://127.0.0.1:9", "--json")
        )

    if keyring == "silent D-Bus":
        with SilentBus(tmp_path / "bus") as address:
            env["DBUS_SESSION_BUS_ADDRESS"] = address
            [result] = status()
    else:
        [result] = status()

    assert result.returncode == 0, result.output
    assert result.seconds < GIVE_UP
    report = json.loads(result.stdout)
    assert report["token"]["source"].startswith("the environment variable")
    assert report["keyring"]["persistent"] is False
    assert [p["severity"] for p in report["problems"]] == ["warning"]
    assert TOKEN not in result.output
