"""End-to-end fixtures: the real CLI, a loopback simulator process, the real keyring."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "app"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def secret_service() -> str:
    """The name of the real Secret Service backend; fail or skip without it."""
    import keyring
    from keyring.backends import SecretService

    backend = keyring.get_keyring()
    if isinstance(backend, SecretService.Keyring):
        return str(backend.name)
    message = (
        f"the Secret Service keyring is not available (backend: {backend!r}); "
        "run the tests through .ci/test"
    )
    if os.environ.get("PLAN_RUNNER_REQUIRE_KEYRING") == "1":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Cli:
    """Runs ``plan-runner`` as a subprocess with a private home."""

    home: Path
    env: dict[str, str]

    def __call__(
        self, *args: str, stdin: str | None = None, token: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if token is not None:
            env["PLAN_RUNNER_TOKEN"] = token
        return subprocess.run(
            [*CLI, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    home = tmp_path / "plan-runner-home"
    env = {k: v for k, v in os.environ.items() if k != "PLAN_RUNNER_TOKEN"}
    env["PLAN_RUNNER_HOME"] = str(home)
    return Cli(home, env)


@pytest.fixture
def profile_name(secret_service: str) -> Iterator[str]:
    """A unique profile name; its keyring entry is removed afterwards."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    yield name
    import keyring

    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        keyring.delete_password("plan-runner", name)


class SimulatorProcess:
    """``plan-runner simulate`` in a subprocess on a free loopback port."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*CLI, "simulate", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"(https?://[\d.]+:\d+\S*)", line)
        if match is None:
            self.process.kill()
            raise AssertionError(f"the simulator did not start: {line!r}")
        self.url = match.group(1)

    def stop(self) -> str:
        self.process.terminate()
        try:
            _, stderr = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
        return stderr


@pytest.fixture
def start_simulator() -> Iterator:
    started: list[SimulatorProcess] = []

    def start(*args: str) -> SimulatorProcess:
        sim = SimulatorProcess(*args)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()
