"""Quit signals while the program loads are noted, and end it before it acts."""

from __future__ import annotations

import os
import signal

import pytest

from app.cli import commands
from app.core.signals import QUIT_SIGNALS, QuitNotes, watched_quit_signals


@pytest.mark.parametrize("number", QUIT_SIGNALS)
def test_a_quit_signal_while_loading_is_noted_not_raised(number):
    before = signal.getsignal(number)
    with QuitNotes() as notes:
        os.kill(os.getpid(), number)  # Ctrl+C would raise KeyboardInterrupt here
        assert notes.noted == [number]
        assert notes.exit_code == 128 + number
    assert signal.getsignal(number) is before


def test_release_puts_the_handlers_back_once():
    before = signal.getsignal(signal.SIGTERM)
    notes = QuitNotes().__enter__()
    assert signal.getsignal(signal.SIGTERM) is not before
    notes.release()
    notes.release()
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_signal_started_ignored_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        assert signal.SIGHUP not in watched_quit_signals()
        with QuitNotes():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_noted_signal_ends_the_command_line_before_it_does_anything(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("PLAN_RUNNER_HOME", str(tmp_path / "home"))
    with QuitNotes() as notes:
        os.kill(os.getpid(), signal.SIGTERM)
        code = commands.main(["profile", "add", "p", "--gateway", "https://gw"], notes)
    assert code == 128 + signal.SIGTERM
    assert not (tmp_path / "home").exists()
    assert capsys.readouterr().err == ""
