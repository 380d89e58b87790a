"""Many ``plan-runner`` commands changing profiles at once, with the real keyring.

Every command that says it added a profile has added it: the settings file holds
each one, and no keyring entry is left without its profile.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import keyring
import pytest

TOKEN = "e2e-Token_0123456789.abcdefghij"
COMMANDS = 12
CLI = [sys.executable, "-m", "app"]


@pytest.fixture
def names(secret_service: str) -> Iterator[list[str]]:
    """Unique profile names; their keyring entries are removed afterwards."""
    prefix = f"e2e-{uuid.uuid4().hex[:6]}"
    made = [f"{prefix}-{i}" for i in range(COMMANDS)]
    yield made
    for name in made:
        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            keyring.delete_password("plan-runner", name)


def _side_by_side(cli, commands: list[tuple[str, ...]]) -> list[tuple[int, str]]:
    """Start every command, then wait for all; return exit codes and output."""
    processes = [
        subprocess.Popen(
            [*CLI, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=cli.env,
        )
        for args in commands
    ]
    finished = []
    for process in processes:
        output, _ = process.communicate(timeout=120)
        finished.append((process.returncode, output))
    return finished


def test_concurrent_profile_adds_keep_every_profile_and_orphan_no_secret(cli, names):
    results = _side_by_side(
        cli,
        [
            (
                "profile",
                "add",
                name,
                "--gateway",
                "http://127.0.0.1:18080/ok",
                "--default-user",
                "1",
            )
            for name in names
        ],
    )

    for code, output in results:
        assert code == 0, output
        assert "Added profile" in output
    listed = cli("profile", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert sorted(rows) == sorted(names)
    for name in names:
        assert rows[name]["gateway_url"] == "http://127.0.0.1:18080/ok"
        assert keyring.get_password("plan-runner", name) is not None


def test_adds_and_removes_side_by_side_leave_file_and_keyring_agreeing(cli, names):
    kept, removed = names[: COMMANDS // 2], names[COMMANDS // 2 :]
    for name in removed:
        added = cli("profile", "add", name, "--gateway", "http://127.0.0.1:9")
        assert added.returncode == 0, added.stderr

    results = _side_by_side(
        cli,
        [("profile", "add", name, "--gateway", "http://127.0.0.1:9") for name in kept]
        + [("profile", "remove", name) for name in removed],
    )

    for code, output in results:
        assert code == 0, output
    listed = json.loads(cli("profile", "list", "--json").stdout)
    assert sorted(row["name"] for row in listed) == sorted(kept)
    for name in kept:
        assert keyring.get_password("plan-runner", name) is not None
    for name in removed:
        assert keyring.get_password("plan-runner", name) is None


def test_a_stored_token_with_a_line_break_is_cleaned_and_the_run_queued(
    cli, start_simulator, names
):
    name = names[0]
    gateway = start_simulator("--token", TOKEN, "--plans", "681", "--users", "1")
    added = cli("profile", "add", name, "--gateway", gateway.url, "--default-user", "1")
    assert added.returncode == 0, added.stderr
    # As another tool, or an older version, may have written it.
    entry = {"gateway_url": gateway.url, "token": f" Bearer {TOKEN}\r\n"}
    keyring.set_password("plan-runner", name, json.dumps(entry))

    result = cli("run", "--plan", "681", "--profile", name, "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["outcome"] == "queued"


def test_a_stored_token_that_cannot_be_sent_is_a_setup_error(
    cli, start_simulator, names
):
    name = names[0]
    gateway = start_simulator("--token", TOKEN, "--plans", "681", "--users", "1")
    added = cli("profile", "add", name, "--gateway", gateway.url, "--default-user", "1")
    assert added.returncode == 0, added.stderr
    entry = {"gateway_url": gateway.url, "token": "e2e-half\none-0123456789"}
    keyring.set_password("plan-runner", name, json.dumps(entry))

    result = cli("run", "--plan", "681", "--profile", name)

    assert result.returncode == 8, result.stdout + result.stderr
    assert "is malformed" in result.stderr
    assert f"plan-runner token set --profile {name}" in result.stderr
    assert "e2e-half" not in result.stdout + result.stderr
    assert "may have been queued" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "POST" not in gateway.stop()
