"""Typed errors of the core, each with a message a person can act on."""

from __future__ import annotations


class PlanRunnerError(Exception):
    """Base of every error the core raises on purpose.

    The message (``str(error)``) is written for the person using the app: it says
    what is wrong and what to do. It never contains a token.
    """


class InputError(PlanRunnerError):
    """What the user typed cannot be used (an ID, a URL, a token, a name)."""


class SetupError(PlanRunnerError):
    """The local setup stops the run: no token, no keyring, a bad config file."""


class ConfigError(SetupError):
    """A settings file cannot be read or written."""


class KeyringError(SetupError):
    """The operating system's keyring cannot be used."""


class PolicyLockedError(SetupError):
    """The machine policy set by IT locks the setting the user tried to change."""


class HistoryError(PlanRunnerError):
    """The history of runs cannot be read or written."""
