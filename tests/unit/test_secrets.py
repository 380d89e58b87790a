"""The keyring store: URL and token together, never a plain-text fallback."""

import json
import threading
import time

import pytest
from keyring.backends import fail

from app.core.errors import KeyringError
from app.core.secrets import (
    Connection,
    KeyringStore,
    SessionStore,
    UnavailableStore,
    backend_problem,
    open_secret_store,
    usable_backend,
)


def test_url_and_token_are_kept_together_in_one_entry(keyring_store, memory_keyring):
    keyring_store.save("prod", Connection("https://gw", "tok-123"))
    raw = memory_keyring.entries[("plan-runner", "prod")]
    assert json.loads(raw) == {"gateway_url": "https://gw", "token": "tok-123"}
    assert keyring_store.load("prod") == Connection("https://gw", "tok-123")


def test_a_token_read_from_the_keyring_is_redacted_from_then_on(
    keyring_store, memory_keyring, redactor
):
    memory_keyring.entries[("plan-runner", "p")] = json.dumps(
        {"token": "read-back-secret"}
    )
    keyring_store.load("p")
    assert "read-back-secret" not in redactor.redact("x read-back-secret y")


def test_an_entry_written_by_hand_is_read_as_a_bare_token(
    keyring_store, memory_keyring
):
    memory_keyring.entries[("plan-runner", "p")] = "just-a-token\n"
    assert keyring_store.load("p") == Connection(None, "just-a-token")


def test_deleting_a_missing_entry_is_not_an_error(keyring_store):
    keyring_store.delete("nothing-here")


class BrokenKeyring:
    name = "Broken"

    def get_password(self, service, username):
        raise RuntimeError(
            "org.freedesktop.Secret.Error.IsLocked: Collection is locked"
        )

    set_password = get_password

    def delete_password(self, service, username):
        raise RuntimeError("access denied")


def test_a_locked_keyring_says_to_unlock_it(redactor):
    store = KeyringStore(BrokenKeyring(), redactor)
    with pytest.raises(KeyringError, match="Unlock the keyring"):
        store.load("p")
    with pytest.raises(KeyringError, match="Could not save"):
        store.save("p", Connection(token="secret-value-1"))


def test_keyring_errors_never_carry_the_token(redactor):
    class Echoing(BrokenKeyring):
        def set_password(self, service, username, password):
            raise RuntimeError(f"cannot store {password}")

    store = KeyringStore(Echoing(), redactor)
    with pytest.raises(KeyringError) as caught:
        store.save("p", Connection(token="echoed-secret-token"))
    assert "echoed-secret-token" not in str(caught.value)


def test_windows_credential_manager_limit_is_checked_before_writing(redactor):
    class WinVaultKeyring(BrokenKeyring):
        name = "Windows WinVaultKeyring"
        written = False

        def set_password(self, service, username, password):
            self.written = True

    WinVaultKeyring.__module__ = "keyring.backends.Windows"
    backend = WinVaultKeyring()
    store = KeyringStore(backend, redactor)
    with pytest.raises(KeyringError, match="too long for Windows Credential Manager"):
        store.save("p", Connection("https://gw", "x" * 1300))
    assert not backend.written
    store.save("p", Connection("https://gw", "x" * 100))
    assert backend.written


def test_no_backend_and_plain_text_backends_are_refused():
    assert "No keyring is available" in backend_problem(fail.Keyring())

    class PlaintextKeyring:
        pass

    PlaintextKeyring.__module__ = "keyrings.alt.file"
    assert "plain text" in backend_problem(PlaintextKeyring())


def test_without_a_keyring_secrets_are_kept_for_the_session_only(redactor):
    def no_backend():
        raise KeyringError("No keyring is available: start a Secret Service.")

    store = open_secret_store(redactor, no_backend)
    assert isinstance(store, SessionStore)
    assert not store.persistent
    assert "No keyring" in store.reason
    store.save("p", Connection("https://gw", "t"))
    assert store.load("p").token == "t"


def test_usable_backend_refuses_the_fail_backend(monkeypatch):
    import keyring

    monkeypatch.setattr(keyring, "get_keyring", fail.Keyring)
    with pytest.raises(KeyringError, match="No keyring"):
        usable_backend()


# A keyring that never answers -----------------------------------------------------

WAIT = 0.2
"""The time limit the tests give the store: short, so a stall costs little."""


class StallingKeyring:
    """A backend whose calls block until ``answer`` is set, as over a hung D-Bus."""

    name = "Stalling"

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        self.answer.wait()
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.answer.wait()
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        self.answer.wait()
        self.entries.pop((service, username), None)


@pytest.fixture
def stalling():
    backend = StallingKeyring()
    yield backend
    backend.answer.set()  # lets the calls left waiting end with the test


def test_a_read_the_keyring_never_answers_ends_at_the_time_limit(stalling, redactor):
    store = KeyringStore(stalling, redactor, timeout=WAIT)
    started = time.monotonic()
    with pytest.raises(KeyringError) as caught:
        store.load("p")
    assert time.monotonic() - started < WAIT + 1
    message = str(caught.value)
    assert "did not answer within 0.2 s when asked to read the token" in message
    assert "unlock the keyring" in message
    assert "gnome-keyring-daemon" in message


def test_a_write_that_times_out_may_or_may_not_have_been_saved(
    stalling, redactor, caplog
):
    store = KeyringStore(stalling, redactor, timeout=WAIT)
    with pytest.raises(KeyringError) as caught:
        store.save("p", Connection("https://gw", "stalled-secret-token-42"))
    message = str(caught.value)
    assert "did not answer within 0.2 s when asked to save the token" in message
    assert "may or may not have been saved" in message
    assert "stalled-secret-token-42" not in message
    assert "stalled-secret-token-42" not in caplog.text
    assert "no answer within" in caplog.text


def test_a_removal_that_times_out_may_or_may_not_have_happened(stalling, redactor):
    store = KeyringStore(stalling, redactor, timeout=WAIT)
    with pytest.raises(KeyringError, match="may or may not have been removed"):
        store.delete("p")


def test_after_a_stall_calls_are_refused_at_once_until_the_keyring_answers(
    stalling, redactor
):
    store = KeyringStore(stalling, redactor, timeout=WAIT)
    with pytest.raises(KeyringError, match="did not answer"):
        store.load("p")

    started = time.monotonic()
    with pytest.raises(KeyringError) as caught:
        store.save("p", Connection("https://gw", "t"))
    assert time.monotonic() - started < WAIT / 2
    assert "has not answered an earlier request" in str(caught.value)
    assert "Nothing was changed" in str(caught.value)

    stalling.answer.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            store.save("p", Connection("https://gw", "t"))
            break
        except KeyringError:
            time.sleep(0.02)
    assert store.load("p") == Connection("https://gw", "t")


def test_what_a_backend_raises_in_its_thread_still_reaches_the_caller(redactor):
    store = KeyringStore(BrokenKeyring(), redactor, timeout=WAIT)
    with pytest.raises(KeyringError, match=r"Could not remove.*access denied"):
        store.delete("p")


def test_finding_the_backend_ends_at_the_time_limit(monkeypatch):
    import keyring

    answer = threading.Event()
    monkeypatch.setattr(keyring, "get_keyring", answer.wait)
    try:
        started = time.monotonic()
        with pytest.raises(KeyringError) as caught:
            usable_backend(timeout=WAIT)
        assert time.monotonic() - started < WAIT + 1
    finally:
        answer.set()
    assert "did not answer within 0.2 s" in str(caught.value)
    assert "gnome-keyring-daemon" in str(caught.value)


def test_without_a_keyring_the_command_line_store_says_why_on_every_call(redactor):
    def no_backend():
        raise KeyringError("No keyring is available: start a Secret Service.")

    store = open_secret_store(redactor, no_backend, fallback=UnavailableStore)
    assert not store.persistent
    assert store.reason.startswith("No keyring is available")
    with pytest.raises(KeyringError, match="No keyring is available"):
        store.load("p")
    with pytest.raises(KeyringError, match="Nothing was saved"):
        store.save("p", Connection("https://gw", "t"))
    with pytest.raises(KeyringError, match="Nothing was removed"):
        store.delete("p")
