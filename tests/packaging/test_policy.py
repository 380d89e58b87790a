"""IT's machine policy, as the command line applies it.

The CLI runs as a subprocess with ``PLAN_RUNNER_POLICY`` pointing at a policy file and
``PLAN_RUNNER_HOME`` at a private folder. Its keyring is a JSON file in the test's
folder (through ``PYTHON_KEYRING_BACKEND``), so the tests touch no real keyring and
entries survive from one command to the next.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.settings import Policy, Profile, load_policy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_POLICY = ROOT / "packaging" / "policy.example.json"
IT_MESSAGE = "is set by your IT department's policy and cannot be changed here"
EXIT_SETUP = 8

KEYRING_MODULE = '''
"""A keyring backend in a JSON file: a test double, for these tests only."""

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class JsonFileKeyring(KeyringBackend):
    priority = 1

    @property
    def _path(self):
        return Path(os.environ["TEST_KEYRING_FILE"])

    def _entries(self):
        try:
            return json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def get_password(self, service, username):
        return self._entries().get(f"{service}/{username}")

    def set_password(self, service, username, password):
        entries = self._entries()
        entries[f"{service}/{username}"] = password
        self._path.write_text(json.dumps(entries), encoding="utf-8")

    def delete_password(self, service, username):
        entries = self._entries()
        if entries.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError(username)
        self._path.write_text(json.dumps(entries), encoding="utf-8")
'''


class Cli:
    """Runs ``plan-runner`` with a policy file, a private home and a file keyring."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.policy_file = tmp_path / "policy.json"
        self.keyring_file = tmp_path / "keyring.json"
        (tmp_path / "plan_runner_test_keyring.py").write_text(
            KEYRING_MODULE, encoding="utf-8"
        )
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PLAN_RUNNER_", "PYTHON_KEYRING"))
        }
        self.env.update(
            PLAN_RUNNER_HOME=str(self.home),
            PLAN_RUNNER_POLICY=str(self.policy_file),
            PYTHON_KEYRING_BACKEND="plan_runner_test_keyring.JsonFileKeyring",
            TEST_KEYRING_FILE=str(self.keyring_file),
            PYTHONPATH=os.pathsep.join(
                filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])
            ),
        )

    def write_policy(self, policy: dict) -> None:
        self.policy_file.write_text(json.dumps(policy), encoding="utf-8")

    def keyring(self) -> dict[str, dict]:
        if not self.keyring_file.exists():
            return {}
        entries = json.loads(self.keyring_file.read_text(encoding="utf-8"))
        return {key: json.loads(value) for key, value in entries.items()}

    def __call__(
        self, *args: str, token: str | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if token is not None:
            env["PLAN_RUNNER_TOKEN"] = token
        return subprocess.run(
            [sys.executable, "-m", "app", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def example_policy(**changes) -> dict:
    policy = json.loads(EXAMPLE_POLICY.read_text(encoding="utf-8"))
    policy.update(changes)
    return policy


def test_the_example_policy_is_valid_and_locks_known_fields():
    policy, problem = load_policy(EXAMPLE_POLICY)

    assert problem is None
    assert [p.name for p in policy.profiles] == ["staging", "production"]
    production = policy.profile("production")
    assert production is not None
    assert production.critical
    assert production.gateway_url.startswith("https://")
    assert policy.extra_ca_file
    assert policy.proxy
    assert policy.retention is not None
    assert policy.retention.keep_days
    assert {"profiles.gateway_url", "extra_ca_file", "proxy"} <= set(policy.locked)
    profile_fields = {*Profile.model_fields, "gateway_url"}
    for lock in policy.locked:
        top, _, field = lock.partition(".")
        assert top in Policy.model_fields, lock
        assert not field or (top == "profiles" and field in profile_fields), lock


def test_cli_refuses_to_change_a_locked_gateway_url_with_exit_8(cli):
    cli.write_policy(example_policy())

    result = cli("profile", "add", "production", "--gateway", "https://other.example")

    assert result.returncode == EXIT_SETUP, result.stderr
    assert "gateway url of profile 'production'" in result.stderr
    assert IT_MESSAGE in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert cli.keyring() == {}
    assert not (cli.home / "config" / "settings.json").exists()


def test_cli_refuses_to_remove_a_preset_when_profiles_are_locked(cli):
    cli.write_policy(example_policy(locked=["profiles"]))

    result = cli("profile", "remove", "production")

    assert result.returncode == EXIT_SETUP, result.stderr
    assert IT_MESSAGE in result.stderr


def test_cli_lets_the_user_change_what_the_policy_does_not_lock(cli):
    cli.write_policy(example_policy())

    result = cli(
        "profile",
        "add",
        "staging",
        "--gateway",
        "https://gateway.staging.example.com/api",
        "--timeout",
        "45",
    )

    assert result.returncode == 0, result.stderr
    listed = json.loads(cli("profile", "list", "--json").stdout)
    staging = next(p for p in listed if p["name"] == "staging")
    assert staging["read_timeout"] == 45
    assert staging["preset_by_policy"] is True


def test_user_settings_never_override_locked_fields(cli, simulator):
    # Before IT's policy arrives, the user has their own "production": another
    # gateway (a closed port) and no confirmation before runs.
    cli.write_policy({})
    added = cli("profile", "add", "production", "--gateway", "http://127.0.0.1:9")
    assert added.returncode == 0, added.stderr
    assert cli.keyring()["plan-runner/production"]["gateway_url"] == (
        "http://127.0.0.1:9"
    )

    # IT's policy presets "production" on the simulator, critical, and locks both.
    cli.write_policy(
        {
            "profiles": [
                {"name": "production", "gateway_url": simulator.url, "critical": True}
            ],
            "locked": ["profiles.gateway_url", "profiles.critical"],
        }
    )
    listed = json.loads(cli("profile", "list", "--json").stdout)
    run = cli(
        "run", "--profile", "production", "--plan", "681", "--user", "1",
        token="demo-token",
    )  # fmt: skip

    production = next(p for p in listed if p["name"] == "production")
    assert production["gateway_url"] == simulator.url
    assert production["critical"] is True
    assert production["preset_by_policy"] is True
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{simulator.url}/queue" in run.stdout
