"""The keyring store: URL and token together, never a plain-text fallback."""

import json

import pytest
from keyring.backends import fail

from app.core.errors import KeyringError
from app.core.secrets import (
    Connection,
    KeyringStore,
    SessionStore,
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
