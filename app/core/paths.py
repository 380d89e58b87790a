"""Where Plan Runner keeps its files."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

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
