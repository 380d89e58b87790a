"""A press of Run ends with a message when the keyring stops answering."""

from __future__ import annotations

import threading

import pytest

from app.core.secrets import KeyringStore

PROFILE = "Stage"
WAIT = 0.3
"""The time limit of the keyring store in these tests, in seconds."""


class FreezableKeyring:
    """The tests' in-memory keyring, until ``freeze()``: then reads never return."""

    name = "Freezable"

    def __init__(self, entries) -> None:
        self._entries = entries
        self._frozen = False
        self.answer = threading.Event()

    def freeze(self) -> None:
        self._frozen = True

    def get_password(self, service, username):
        if self._frozen:
            self.answer.wait()
        return self._entries.get_password(service, username)

    def set_password(self, service, username, password):
        self._entries.set_password(service, username, password)

    def delete_password(self, service, username):
        self._entries.delete_password(service, username)


@pytest.fixture
def freezable(keyring_backend):
    backend = FreezableKeyring(keyring_backend)
    yield backend
    backend.answer.set()  # the read left waiting ends, so no thread outlives the test


def test_a_token_read_that_never_returns_ends_the_run_with_a_message(
    qtbot, gateway, add_profile, open_gui, redactor, freezable
):
    add_profile(PROFILE, gateway.url)
    window = open_gui(KeyringStore(freezable, redactor, timeout=WAIT)).window
    window.plan_field.set_text("681")
    window.user_field.set_text("1")
    assert window.run_button.isEnabled()
    freezable.freeze()

    with qtbot.waitSignal(window.run_refused, timeout=5000) as refused:
        window.run_button.click()
        # While the read hangs, nothing has gone to the gateway: the hint says so.
        assert window.run_hint.text() == "Reading the token from the keyring…"

    message = refused.args[0]
    assert f"did not answer within {WAIT:g} s" in message
    assert "unlock the keyring" in message
    assert not window.running
    assert window.run_hint.text() != "Waiting for the gateway…"
    assert window.result.state == "not_sent"
    assert window.result.title.text() == "The run could not be prepared"
    assert gateway.queue_posts == []
