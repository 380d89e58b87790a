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
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from app.core.errors import KeyringError
from app.core.redact import Redactor

log = logging.getLogger(__name__)

SERVICE = "plan-runner"
WINDOWS_CREDENTIAL_LIMIT = 2560
"""Windows Credential Manager holds at most this many bytes of UTF-16 per secret."""

KEYRING_TIMEOUT_SECONDS = 10.0
"""How long one keyring call (finding the backend, a read, a write, a removal)
may take before Plan Runner stops waiting for it and says so.

A keyring can stay silent for ever: a D-Bus session bus that accepts the
connection and never answers, a keyring service that is stuck, an unlock prompt
that nobody sees. The backends have no time limit of their own, so each call
runs on a daemon thread and is waited for this long at most.
"""

T = TypeVar("T")


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

    def __init__(
        self,
        backend: Any,
        redactor: Redactor,
        timeout: float = KEYRING_TIMEOUT_SECONDS,
    ) -> None:
        self._backend = backend
        self._redactor = redactor
        self._timeout = timeout
        self._lock = threading.Lock()
        self._unanswered: threading.Thread | None = None

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

        def delete_if_there() -> None:
            try:
                self._backend.delete_password(SERVICE, profile)
            except keyring.errors.PasswordDeleteError:
                return

        self._call("remove", delete_if_there)

    def _call(self, action: str, function: Callable[..., T], *args: str) -> T:
        with self._lock:
            earlier = self._unanswered
        if earlier is not None and earlier.is_alive():
            # Each stalled call costs the whole wait; once the keyring has let one
            # go unanswered, the next ones are refused until that one returns.
            raise self._still_waiting(action)
        try:
            return call_within(self._timeout, f"keyring {action}", function, *args)
        except KeyringTimeout as timeout:
            with self._lock:
                self._unanswered = timeout.thread
            raise self._timeout_error(action) from None
        except Exception as error:  # noqa: BLE001 - backends raise D-Bus, OS and own errors
            raise self._error(action, error) from None

    def _timeout_error(self, action: str) -> KeyringError:
        log.warning(
            "Keyring %s in %s: no answer within %g s",
            action,
            self.backend_name,
            self._timeout,
        )
        return KeyringError(
            f"The keyring ({self.backend_name}) did not answer within "
            f"{self._timeout:g} s when asked to {action} the token."
            f"{_MAYBE_DONE.get(action, '')} {UNANSWERED_HINT}"
        )

    def _still_waiting(self, action: str) -> KeyringError:
        log.warning(
            "Keyring %s in %s refused: an earlier call is still unanswered",
            action,
            self.backend_name,
        )
        nothing_done = " Nothing was changed." if action != "read" else ""
        return KeyringError(
            f"The keyring ({self.backend_name}) has not answered an earlier request "
            f"yet, so Plan Runner did not ask it to {action} the token."
            f"{nothing_done} {UNANSWERED_HINT}"
        )

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


UNANSWERED_HINT = (
    "It may be locked and waiting for its password, or its service may be stuck: "
    "unlock the keyring, or check that the keyring service (for example "
    "gnome-keyring-daemon) is running and answering, then try again."
)

_MAYBE_DONE = {
    "save": " It may or may not have been saved: save it again once the keyring "
    "answers.",
    "remove": " It may or may not have been removed: remove it again once the "
    "keyring answers.",
}


class KeyringTimeout(Exception):
    """A keyring call did not return in time; it goes on running on ``thread``."""

    def __init__(self, thread: threading.Thread) -> None:
        super().__init__(f"{thread.name} did not return in time")
        self.thread = thread


def call_within(seconds: float, name: str, function: Callable[..., T], *args: Any) -> T:
    """Call ``function(*args)`` on a daemon thread and wait ``seconds`` at most.

    What the call returns or raises is passed on. A call that is still running
    when the time is up is left running (nothing can stop a thread blocked in a
    socket), and, being a daemon, it never keeps the process from exiting.

    Raises:
        KeyringTimeout: The call did not return within ``seconds``.
    """
    future: Future[T] = Future()

    def call() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as error:  # noqa: BLE001 - handed to the caller as is
            future.set_exception(error)

    thread = threading.Thread(target=call, name=name, daemon=True)
    thread.start()
    thread.join(seconds)
    if not future.done():
        raise KeyringTimeout(thread)
    return future.result()


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


class UnavailableStore:
    """A :class:`SecretStore` for a face that keeps nothing without a keyring.

    The command line lives for one command, so a session store would only make
    every stored URL and token look missing ("no gateway URL", "no token") and
    let a profile be removed while its keyring entry stays behind. This store
    says why instead, on every read and write.
    """

    def __init__(self, redactor: Redactor, reason: str) -> None:
        self.reason = reason

    @property
    def backend_name(self) -> str:
        """Say that there is no keyring."""
        return "none (no keyring is usable)"

    @property
    def persistent(self) -> bool:
        """Nothing is kept."""
        return False

    def load(self, profile: str) -> Connection:
        """Refuse, saying why the keyring cannot be read."""
        raise KeyringError(self.reason)

    def save(self, profile: str, connection: Connection) -> None:
        """Refuse, saying why nothing can be stored."""
        raise KeyringError(f"{self.reason} Nothing was saved.")

    def delete(self, profile: str) -> None:
        """Refuse, saying why nothing can be removed."""
        raise KeyringError(f"{self.reason} Nothing was removed.")


def usable_backend(timeout: float = KEYRING_TIMEOUT_SECONDS) -> Any:
    """Return the keyring backend this machine offers, if it is safe and works.

    Finding the backend already talks to the keyring service (over D-Bus on
    Linux), so it gets the same time limit as every other keyring call.

    Raises:
        KeyringError: There is no backend, only one that writes secrets in plain
            text, or the keyring did not answer within ``timeout`` seconds; the
            message says what to install, start or unlock.
    """
    try:
        import keyring  # noqa: PLC0415 - the keyring's import costs; only when needed

        backend = call_within(timeout, "keyring discovery", keyring.get_keyring)
    except KeyringTimeout:
        log.warning("The keyring did not answer within %g s when opened", timeout)
        raise KeyringError(
            f"The keyring did not answer within {timeout:g} s when Plan Runner "
            f"looked for it. {UNANSWERED_HINT}"
        ) from None
    except Exception as error:  # noqa: BLE001 - keyring's discovery can raise anything
        raise KeyringError(f"The keyring could not be loaded: {error}") from None
    problem = backend_problem(backend)
    if problem:
        raise KeyringError(problem)
    return backend


def open_secret_store(
    redactor: Redactor,
    backend_loader: Callable[[], Any] = usable_backend,
    fallback: Callable[[Redactor, str], SecretStore] = SessionStore,
) -> SecretStore:
    """Return the keyring store, or ``fallback`` (told why) when there is none.

    The fallback is a session-only store for the desktop app, and an
    :class:`UnavailableStore` for the command line.
    """
    try:
        return KeyringStore(backend_loader(), redactor)
    except KeyringError as error:
        store = fallback(redactor, str(error))
        if isinstance(store, SessionStore):
            log.warning("Secrets are kept for this session only: %s", error)
        else:
            log.warning("No keyring is usable: %s", error)
        return store


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
