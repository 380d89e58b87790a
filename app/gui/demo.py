"""Demo mode: the app against the built-in gateway simulator, touching nothing real.

Settings, history and logs live in a temporary folder removed on exit, tokens in
a session store, and the gateway is :class:`~app.sim.Simulator` on a free
loopback port, so a newcomer sees a run succeed (and fail) within seconds.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from pathlib import Path

from app.core.paths import AppPaths
from app.core.redact import Redactor
from app.core.secrets import SessionStore
from app.core.settings import CatalogueEntry, Profile
from app.core.workspace import Workspace
from app.sim import SCENARIOS, Simulator

log = logging.getLogger(__name__)

DEMO_TOKEN = "demo-token"  # noqa: S105 - the simulator's public test token
DEMO_PROFILE = "Demo local"
DEMO_CRITICAL_PROFILE = "Demo staging (critical)"
DEMO_SLOW_SECONDS = 4.0
DEMO_READ_TIMEOUT = 10.0

DEMO_PLANS = (
    CatalogueEntry(id=681, name="Smoke suite", favourite=True),
    CatalogueEntry(id=42, name="Checkout regression"),
    CatalogueEntry(id=9007199254740993, name="Big-ID plan"),
)
DEMO_USERS = (
    CatalogueEntry(id=1, name="Ada (QA lead)", favourite=True),
    CatalogueEntry(id=2, name="Grace"),
    CatalogueEntry(id=7, name="Linus"),
)

SCENARIO_LABELS = {
    "normal": "Normal (as the contract says)",
    "slow": f"Slow: answers after {DEMO_SLOW_SECONDS:g} s",
    "hang": "Hangs: never answers",
    "drop": "Drops the connection after the request",
    "drop_before": "Drops every connection at once",
    "html502": "502 Bad Gateway page from a proxy",
    "html503": "503 Service Unavailable page",
    "html504": "504 Gateway Time-out page",
    "empty401": "401: expired token, empty body",
    "spring401": "401 with a framework's error JSON",
    "oauth401": "401 with an OAuth2 error",
    "forbidden": "403 from a firewall",
    "error500": "500 internal error",
    "ratelimit": "429 Too Many Requests",
    "redirect": "302 to a sign-in page",
    "redirect301": "301 to https",
    "redirect307": "307 to https",
    "redirect308": "308 to https",
    "notfound": "404: wrong path prefix",
    "toolarge": "413: request too large",
    "code_nonzero": "200 with an unknown error code",
    "code_string": "200 with the code as a string",
    "missing_result": "200 without a result",
    "extra_fields": "200 with extra fields",
    "not_json": "200 plain text",
    "truncated": "200 with cut-off JSON",
    "huge": "200 with a 20 MB page",
    "trickle": "200 sent one byte every 2 s",
    "echo_token": "401 that echoes your token back",
    "gzip_bomb": "200 that inflates to 128 MB",
    "endless": "200 whose body never ends",
}


class DemoEnvironment:
    """The simulator, a temporary home and a session store, for ``--demo``.

    Args:
        redactor: The app's redactor (the session store registers tokens there).
        home: The temporary folder; created when None.
    """

    def __init__(self, redactor: Redactor, home: Path | None = None) -> None:
        self._own_home = home is None
        self.home = home or Path(tempfile.mkdtemp(prefix="plan-runner-demo-"))
        self.paths = AppPaths(
            config_dir=self.home / "config",
            data_dir=self.home / "data",
            log_dir=self.home / "logs",
            policy_file=self.home / "no-policy.json",
        )
        self.secrets = SessionStore(
            redactor, "Demo mode keeps tokens in memory for this session."
        )
        self.simulator = Simulator(
            "127.0.0.1", 0, tokens=(DEMO_TOKEN,), slow_seconds=DEMO_SLOW_SECONDS
        )

    @property
    def scenarios(self) -> tuple[str, ...]:
        """The simulator's behaviours, in its order."""
        return SCENARIOS

    @property
    def scenario(self) -> str:
        """The behaviour in force."""
        return self.simulator.scenario

    @property
    def url(self) -> str:
        """The demo gateway's URL."""
        return self.simulator.url

    def start(self) -> DemoEnvironment:
        """Start the simulator on a free loopback port."""
        self.simulator.start()
        log.info("Demo gateway at %s; demo files in %s", self.url, self.home)
        return self

    def set_scenario(self, name: str) -> None:
        """Make the demo gateway behave as scenario ``name`` from now on."""
        self.simulator.set_scenario(name)

    def populate(self, workspace: Workspace) -> None:
        """Add the demo profiles, their catalogue and the demo token."""
        common = {
            "default_user": 1,
            "read_timeout": DEMO_READ_TIMEOUT,
            "plans": list(DEMO_PLANS),
            "users": list(DEMO_USERS),
        }
        workspace.save_profile(
            Profile(name=DEMO_PROFILE, colour="#2e9d57", **common),
            gateway_url=self.url,
            token=DEMO_TOKEN,
        )
        workspace.save_profile(
            Profile(
                name=DEMO_CRITICAL_PROFILE, colour="#cf3b3b", critical=True, **common
            ),
            gateway_url=self.url,
            token=DEMO_TOKEN,
        )
        workspace.remember_last_profile(DEMO_PROFILE)

    def close(self) -> None:
        """Stop the simulator and remove the temporary folder."""
        self.simulator.stop()
        if self._own_home:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.home)
