"""The keyring store: where each profile's gateway URL and token live.

Both are kept together in one keyring entry per profile (service ``plan-runner``,
user name the profile's name), so where and as whom the app connects never
drift apart. There is no fallback to a file: without a usable keyring the app
keeps secrets for the session only, and says so.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from app.core.errors import KeyringError
from app.core.redact import Redactor

log = logging.getLogger(__name__)

SERVICE = "plan-runner"
WINDOWS_CREDENTIAL_LIMIT = 2560
"""Windows Credential Manager holds at most this many bytes of UTF-16 per secret."""


@dataclass(frozen=True)
class Connection:
    """Where and as whom a profile connects."""

    gateway_url: str | None = None
    token: str | None = None


class SecretStore(Protocol):
    """Keeps each profile's :class:`Connection`."""

    @property
    def backend_name(self) -> str:
        """A name for people: where the secrets are kept."""
        ...

    @property
    def persistent(self) -> bool:
        """Whether secrets survive the end of the session."""
        ...

    def load(self, profile: str) -> Connection:
        """Return the profile's connection; empty when nothing is stored."""
        ...

    def save(self, profile: str, connection: Connection) -> None:
        """Store the profile's connection, replacing what was there."""
        ...

    def delete(self, profile: str) -> None:
        """Forget the profile's connection."""
        ...


class KeyringStore:
    """A :class:`SecretStore` on a keyring backend (Secret Service, Keychain, …)."""

    def __init__(self, backend: Any, redactor: Redactor) -> None:
        self._backend = backend
        self._redactor = redactor

    @property
    def backend_name(self) -> str:
        """Name the keyring backend, as keyring does."""
        return backend_label(self._backend)

    @property
    def persistent(self) -> bool:
        """Keyring entries outlive the session."""
        return True

    def load(self, profile: str) -> Connection:
        """Read the profile's entry from the keyring."""
        raw = self._call("read", self._backend.get_password, SERVICE, profile)
        if raw is None:
            return Connection()
        connection = _decode(raw)
        self._redactor.add(connection.token)
        return connection

    def save(self, profile: str, connection: Connection) -> None:
        """Write the profile's entry to the keyring."""
        self._redactor.add(connection.token)
        raw = json.dumps(
            {"gateway_url": connection.gateway_url, "token": connection.token}
        )
        if _is_windows_backend(self._backend):
            size = len(raw.encode("utf-16-le"))
            if size > WINDOWS_CREDENTIAL_LIMIT:
                raise KeyringError(
                    f"The token is too long for Windows Credential Manager ({size} of "
                    f"at most {WINDOWS_CREDENTIAL_LIMIT} bytes). It can be used for "
                    "this session only; ask the gateway's team for a shorter token."
                )
        self._call("save", self._backend.set_password, SERVICE, profile, raw)

    def delete(self, profile: str) -> None:
        """Remove the profile's entry; nothing happens when there is none."""
        import keyring.errors  # noqa: PLC0415

        try:
            self._backend.delete_password(SERVICE, profile)
        except keyring.errors.PasswordDeleteError:
            return
        except Exception as error:  # noqa: BLE001 - backends raise anything
            raise self._error("remove", error) from None

    def _call(self, action: str, function: Any, *args: str) -> Any:
        try:
            return function(*args)
        except Exception as error:  # noqa: BLE001 - backends raise D-Bus, OS and own errors
            raise self._error(action, error) from None

    def _error(self, action: str, error: Exception) -> KeyringError:
        reason = self._redactor.redact(str(error).splitlines()[0] if str(error) else "")
        kind = type(error).__name__
        log.warning(
            "Keyring %s failed in %s: %s: %s", action, self.backend_name, kind, reason
        )
        hint = (
            "Unlock the keyring and try again."
            if "lock" in f"{kind} {reason}".lower()
            else "Check that the keyring service is running and allows access."
        )
        return KeyringError(
            f"Could not {action} the token in {self.backend_name} "
            f"({kind}{': ' + reason if reason else ''}). {hint}"
        )


class SessionStore:
    """A :class:`SecretStore` in memory: secrets last until the app closes."""

    def __init__(self, redactor: Redactor, reason: str) -> None:
        self._redactor = redactor
        self._lock = threading.Lock()
        self._entries: dict[str, Connection] = {}
        self.reason = reason

    @property
    def backend_name(self) -> str:
        """Say that nothing is kept."""
        return "memory (this session only)"

    @property
    def persistent(self) -> bool:
        """Nothing survives the session."""
        return False

    def load(self, profile: str) -> Connection:
        """Return what this session was told."""
        with self._lock:
            return self._entries.get(profile, Connection())

    def save(self, profile: str, connection: Connection) -> None:
        """Keep the connection in memory."""
        self._redactor.add(connection.token)
        with self._lock:
            self._entries[profile] = connection

    def delete(self, profile: str) -> None:
        """Forget the connection."""
        with self._lock:
            self._entries.pop(profile, None)


def usable_backend() -> Any:
    """Return the keyring backend this machine offers, if it is safe and works.

    Raises:
        KeyringError: There is no backend, or only one that writes secrets in plain
            text; the message says what to install or start.
    """
    try:
        import keyring  # noqa: PLC0415 - the keyring's import costs; only when needed

        backend = keyring.get_keyring()
    except Exception as error:  # noqa: BLE001 - keyring's discovery can raise anything
        raise KeyringError(f"The keyring could not be loaded: {error}") from None
    problem = backend_problem(backend)
    if problem:
        raise KeyringError(problem)
    return backend


def open_secret_store(
    redactor: Redactor, backend_loader: Callable[[], Any] = usable_backend
) -> SecretStore:
    """Return the keyring store, or a session-only store that says why."""
    try:
        return KeyringStore(backend_loader(), redactor)
    except KeyringError as error:
        log.warning("Secrets are kept for this session only: %s", error)
        return SessionStore(redactor, str(error))


def backend_problem(backend: Any) -> str | None:
    """Return why ``backend`` must not hold tokens, or None when it is fine."""
    module = type(backend).__module__
    name = type(backend).__name__
    if module.startswith("keyrings.alt") or "plaintext" in name.lower():
        return (
            f"The keyring backend {backend_label(backend)} stores secrets in plain "
            "text, so Plan Runner will not use it."
        )
    if module in ("keyring.backends.fail", "keyring.backends.null"):
        return (
            "No keyring is available: on Linux, start a Secret Service (GNOME "
            "Keyring or KWallet) in your desktop session."
        )
    if module == "keyring.backends.chainer" and not getattr(backend, "backends", []):
        return "No keyring is available: no keyring backend works on this machine."
    return None


def backend_label(backend: Any) -> str:
    """Return a readable name of a keyring backend."""
    name = getattr(backend, "name", None)
    if isinstance(name, str) and name:
        return name
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _is_windows_backend(backend: Any) -> bool:
    return type(backend).__module__.endswith("Windows")


def _decode(raw: str) -> Connection:
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        # An entry written by hand or by another tool: take it as a bare token.
        return Connection(token=raw.strip() or None)
    gateway = document.get("gateway_url")
    token = document.get("token")
    return Connection(
        gateway_url=gateway if isinstance(gateway, str) else None,
        token=token if isinstance(token, str) else None,
    )
