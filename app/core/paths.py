"""Where Plan Runner keeps its files."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import SetupError

APP_NAME = "plan-runner"
HOME_VARIABLE = "PLAN_RUNNER_HOME"
POLICY_VARIABLE = "PLAN_RUNNER_POLICY"


@dataclass(frozen=True)
class AppPaths:
    """The folders and files of the app.

    Attributes:
        config_dir: User settings (profiles, preferences).
        data_dir: The history database.
        log_dir: Rotating logs.
        policy_file: The machine policy IT may install (read-only for the app).
    """

    config_dir: Path
    data_dir: Path
    log_dir: Path
    policy_file: Path

    @property
    def settings_file(self) -> Path:
        """The user's settings file."""
        return self.config_dir / "settings.json"

    @property
    def history_file(self) -> Path:
        """The SQLite history of runs."""
        return self.data_dir / "history.sqlite3"

    @property
    def log_file(self) -> Path:
        """The current log file."""
        return self.log_dir / "plan-runner.log"

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> AppPaths:
        """Return the platform's folders, or one folder under ``PLAN_RUNNER_HOME``."""
        env = os.environ if environ is None else environ
        # IT's policy applies wherever the user's own files are: PLAN_RUNNER_HOME
        # moves the user's files, never the policy (only PLAN_RUNNER_POLICY does).
        policy = Path(env[POLICY_VARIABLE]) if env.get(POLICY_VARIABLE) else None
        home = env.get(HOME_VARIABLE)
        if home:
            root = Path(home).expanduser()
            return cls(
                config_dir=root / "config",
                data_dir=root / "data",
                log_dir=root / "logs",
                policy_file=policy or system_policy_file(),
            )
        import platformdirs  # noqa: PLC0415 - not needed under PLAN_RUNNER_HOME

        return cls(
            config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
            policy_file=policy or system_policy_file(),
        )


def system_policy_file() -> Path:
    r"""Return where IT puts the machine policy on this operating system.

    Linux: ``/etc/plan-runner/policy.json``; Windows:
    ``%ProgramData%\\plan-runner\\policy.json``; macOS:
    ``/Library/Application Support/plan-runner/policy.json``.
    """
    if sys.platform == "win32":
        base = os.environ.get("PROGRAMDATA", r"C:\ProgramData")
        return Path(base) / APP_NAME / "policy.json"
    if sys.platform == "darwin":
        return Path("/Library/Application Support") / APP_NAME / "policy.json"
    return Path("/etc") / APP_NAME / "policy.json"


def check_folders(paths: AppPaths, home: str | None = None) -> None:
    """Refuse to start when a file stands where one of the app's folders must be.

    Args:
        paths: The app's folders (created later, when missing).
        home: The value of ``PLAN_RUNNER_HOME``, if set, to name in the message.

    Raises:
        SetupError: Which path is a file, and what to do.
    """
    for folder in (paths.config_dir, paths.data_dir, paths.log_dir):
        blocker = _file_in_the_way(folder)
        if blocker is None:
            continue
        if home:
            raise SetupError(
                f"{HOME_VARIABLE} must be a folder, but {blocker} is a file. Point "
                f"{HOME_VARIABLE} at a folder (it is created when missing), or "
                "move the file away."
            )
        raise SetupError(
            f"Plan Runner keeps its files in the folder {folder}, but {blocker} "
            "is a file. Move or rename that file, then try again."
        )


def _file_in_the_way(folder: Path) -> Path | None:
    """Return the file (or dangling link) at ``folder`` or above it, if any."""
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            return None
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return None
