"""Wiring of the command line: one place that builds the core's collaborators."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from app.core.paths import HOME_VARIABLE, AppPaths, check_folders
from app.core.redact import Redactor
from app.core.secrets import SecretStore

EXIT_OK = 0
EXIT_INPUT = 2
EXIT_SETUP = 8

TOKEN_VARIABLE = "PLAN_RUNNER_TOKEN"  # noqa: S105 - a variable name, not a secret


@dataclass
class CliContext:
    """What a command needs, built lazily so a command pays only for what it uses."""

    paths: AppPaths
    redactor: Redactor
    verbose: bool = False
    _secrets: SecretStore | None = None
    _workspace: Any = None
    _history: Any = None
    _handlers: list[logging.Handler] = field(default_factory=list)

    @classmethod
    def from_environment(cls, *, verbose: bool = False) -> CliContext:
        """Build the context from the environment and set up logging."""
        from app.core.logs import setup_logging  # noqa: PLC0415

        redactor = Redactor()
        paths = AppPaths.from_environment()
        # Before logging starts: a file in the way would otherwise show as a bare
        # "File logging is off" line, and each command would fail in its own way.
        check_folders(paths, os.environ.get(HOME_VARIABLE))
        context = cls(paths=paths, redactor=redactor, verbose=verbose)
        context._handlers = setup_logging(
            paths.log_file,
            redactor,
            stderr_level=logging.INFO if verbose else logging.ERROR + 10,
        )
        return context

    @property
    def secrets(self) -> SecretStore:
        """The keyring store, or one that says why there is none.

        Opening the keyring, and each read and write, waits
        :data:`app.core.secrets.KEYRING_TIMEOUT_SECONDS` at most, so a keyring
        that never answers ends the command with a message instead of a hang.
        """
        if self._secrets is None:
            from app.core.secrets import (  # noqa: PLC0415
                UnavailableStore,
                open_secret_store,
            )

            self._secrets = open_secret_store(self.redactor, fallback=UnavailableStore)
        return self._secrets

    @property
    def workspace(self) -> Any:
        """The profiles, their secrets and IT's policy."""
        if self._workspace is None:
            from app.core.workspace import Workspace  # noqa: PLC0415

            self._workspace = Workspace.open(self.paths, self.redactor, self.secrets)
            for problem in self._workspace.problems:
                warn(problem)
        return self._workspace

    def history_or_none(self) -> Any:
        """Open the history store; None (with a warning) when it cannot be opened."""
        if self._history is None:
            from app.core.errors import HistoryError  # noqa: PLC0415
            from app.core.history import HistoryStore  # noqa: PLC0415

            try:
                self._history = HistoryStore.open(
                    self.paths.history_file, progress=warn
                )
            except HistoryError as error:
                warn(f"{error} This run is not recorded.")
                return None
            for notice in self._history.notices:
                warn(notice)
        return self._history

    def environment_token(self) -> str | None:
        """Return the cleaned token of ``PLAN_RUNNER_TOKEN``, or None when unset.

        Raises:
            InputError: The variable is set but blank (often a CI secret that
                is missing), or does not hold a usable token.
        """
        raw = os.environ.get(TOKEN_VARIABLE)
        if raw is None:
            return None
        from app.core.errors import InputError  # noqa: PLC0415
        from app.core.tokens import clean_token  # noqa: PLC0415

        if not raw.strip():
            raise InputError(
                f"{TOKEN_VARIABLE} is set but empty; unset it to use the token "
                "stored for the profile, or set it to the token."
            )

        try:
            token = clean_token(raw)
        except InputError as error:
            raise InputError(f"{TOKEN_VARIABLE}: {error}") from None
        self.redactor.add(token)
        return token

    def close(self) -> None:
        """Release what the command opened."""
        if self._history is not None:
            self._history.close()
        root = logging.getLogger()
        for handler in self._handlers:
            root.removeHandler(handler)
            handler.close()


class ReaderAwareStream:
    """A standard stream that goes quiet, instead of failing, when its reader leaves.

    ``plan-runner … | head -1`` closes the pipe while the command may still be
    writing. Python's recipe is to point the stream's file descriptor at devnull
    once BrokenPipeError is raised; doing so at the write that failed lets the
    command finish what it started and return its own exit code (``run`` has
    already recorded its outcome when it prints it). Commands that write a lot
    check :attr:`reader_gone` to stop early.

    Once a command has its redactor, every write also passes through it: the
    last guard for a message that reaches the terminal without being redacted.

    Attributes:
        stream: The stream wrapped.
        reader_gone: Whether the reader has closed the pipe.
        redact: What each write passes through first.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.reader_gone = False
        self.redact: Callable[[str], str] = str

    def write(self, text: str) -> int:
        """Write ``text``, redacted; once the reader has gone, into devnull."""
        try:
            self.stream.write(self.redact(text))
            return len(text)
        except BrokenPipeError:
            self._silence()
            return len(text)

    def writelines(self, lines: Any) -> None:
        """Write each of ``lines``."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush the stream; once the reader has gone, into devnull."""
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._silence()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def _silence(self) -> None:
        self.reader_gone = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self.stream.fileno())
        finally:
            os.close(devnull)


def reader_gone(stream: object) -> bool:
    """Whether ``stream`` is a :class:`ReaderAwareStream` whose reader has left."""
    return bool(getattr(stream, "reader_gone", False))


def fail(message: str, code: int) -> int:
    """Print an error for a person and return ``code``."""
    print(f"plan-runner: {message}", file=sys.stderr)
    return code


def warn(message: str) -> None:
    """Print a warning for a person."""
    print(f"plan-runner: warning: {message}", file=sys.stderr)


def print_json(document: object, redactor: Redactor) -> None:
    """Print one JSON document, every string in it redacted."""
    print(json.dumps(redactor.redact_all(document), indent=2, ensure_ascii=False))
