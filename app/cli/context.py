"""Wiring of the command line: one place that builds the core's collaborators."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from app.core.paths import AppPaths
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
        context = cls(paths=paths, redactor=redactor, verbose=verbose)
        context._handlers = setup_logging(
            paths.log_file,
            redactor,
            stderr_level=logging.INFO if verbose else logging.ERROR + 10,
        )
        return context

    @property
    def secrets(self) -> SecretStore:
        """The keyring store (or a session store that will not persist)."""
        if self._secrets is None:
            from app.core.workspace import open_secret_store  # noqa: PLC0415

            self._secrets = open_secret_store(self.redactor)
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
                self._history = HistoryStore.open(self.paths.history_file)
            except HistoryError as error:
                warn(f"{error} This run is not recorded.")
                return None
            for notice in self._history.notices:
                warn(notice)
        return self._history

    def environment_token(self) -> str | None:
        """Return the cleaned token of ``PLAN_RUNNER_TOKEN``, if set."""
        raw = os.environ.get(TOKEN_VARIABLE)
        if raw is None or not raw.strip():
            return None
        from app.core.errors import InputError  # noqa: PLC0415
        from app.core.tokens import clean_token  # noqa: PLC0415

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


def fail(message: str, code: int) -> int:
    """Print an error for a person and return ``code``."""
    print(f"plan-runner: {message}", file=sys.stderr)
    return code


def warn(message: str) -> None:
    """Print a warning for a person."""
    print(f"plan-runner: warning: {message}", file=sys.stderr)


def print_json(document: object) -> None:
    """Print one JSON document."""
    print(json.dumps(document, indent=2, ensure_ascii=False))
