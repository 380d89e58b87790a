"""Fixtures shared by every test layer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from keyring.backend import KeyringBackend

from app.core.redact import Redactor
from app.core.secrets import KeyringStore
from app.sim import Simulator


class MemoryKeyring(KeyringBackend):
    """A keyring backend in a dict: for unit tests only."""

    # Priority 0 keeps keyring's own discovery (and its chainer) from ever picking
    # this backend: tests construct it directly.
    priority = 0  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)

    def entry(self, profile: str) -> dict[str, object] | None:
        """Return a profile's stored connection, decoded."""
        raw = self.entries.get(("plan-runner", profile))
        return None if raw is None else json.loads(raw)


@pytest.fixture(autouse=True)
def _private_policy(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point every test away from this machine's own policy file in /etc."""
    folder = tmp_path_factory.mktemp("policy")
    monkeypatch.setenv("PLAN_RUNNER_POLICY", str(folder / "policy.json"))


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    return MemoryKeyring()


@pytest.fixture
def keyring_store(memory_keyring: MemoryKeyring, redactor: Redactor) -> KeyringStore:
    return KeyringStore(memory_keyring, redactor)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(slow_seconds=0.5) as sim:
        yield sim
