"""A run from start to finish: check, send once, decode, record."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from app.core.contract import QueueRequest
from app.core.errors import HistoryError, SetupError
from app.core.exchange import (
    Canceller,
    ClientSettings,
    for_gateway,
    mask_proxy,
    proxy_in_use,
)
from app.core.outcome import Outcome, RunContext, decode
from app.core.redact import Redactor
from app.core.tokens import TokenFacts, token_facts
from app.core.urls import GatewayUrl

if TYPE_CHECKING:
    import httpx

    from app.core.settings import Retention

ClientFactory = Callable[[ClientSettings, Canceller | None], "httpx.Client"]

log = logging.getLogger(__name__)


class HistoryRecorder(Protocol):
    """Keeps a record of each run."""

    def record(
        self,
        outcome: Outcome,
        *,
        plan_name: str | None = None,
        user_name: str | None = None,
    ) -> int:
        """Store the outcome; return its row ID."""
        ...

    def prune(self, keep_days: int | None, keep_runs: int | None) -> int:
        """Delete what the retention does not keep; return how many runs."""
        ...


@dataclass(frozen=True)
class RunRequest:
    """Everything one run needs.

    Attributes:
        plan_id, user_id: What to run, for whom.
        gateway: Where to send it.
        token: The bearer token.
        profile: The profile's name, or None for an ad-hoc gateway.
        client: How to connect.
        allow_plain_http: The profile consents to plain http to a remote host.
        plan_name, user_name: Catalogue names, kept in the history.
    """

    plan_id: int
    user_id: int
    gateway: GatewayUrl
    token: str
    profile: str | None
    client: ClientSettings
    allow_plain_http: bool = False
    plan_name: str | None = None
    user_name: str | None = None


@dataclass(frozen=True)
class RunResult:
    """An outcome, and whether recording it failed (which never changes it)."""

    outcome: Outcome
    history_problem: str | None = None


def check_transport(
    gateway: GatewayUrl, allow_plain_http: bool, *, ad_hoc: bool = False
) -> None:
    """Refuse to send a token over plain http to another machine without consent.

    ``ad_hoc`` says the gateway was given on the command line (``--gateway``)
    rather than by a profile, which changes where the consent is given.

    Raises:
        SetupError: The gateway is plain http on a remote host and the profile
            (or the command line) has not allowed it.
    """
    if gateway.is_plain_http and not gateway.is_loopback and not allow_plain_http:
        consent = (
            "or add --allow-plain-http"
            if ad_hoc
            else "or allow plain http in the profile's settings"
        )
        raise SetupError(
            f"Plan Runner will not send your token unencrypted to {gateway.host}. "
            f"Use an https:// gateway URL, {consent} if this is a test gateway on "
            "a network you trust."
        )


def connect_deadline(settings: ClientSettings) -> float:
    """Return how long a run may take to connect (TCP, a proxy's tunnel, TLS).

    The connect timeout, but never longer than the read timeout itself: a run
    waits at most the read timeout for its answer once connected, plus at most
    as long again to connect, so ``--timeout 3`` means six seconds at most, not
    thirteen.
    """
    return min(settings.connect_timeout, settings.read_timeout)


class Runner:
    """Sends runs and records them.

    Args:
        redactor: Learns each token, and removes it from everything kept.
        history: Where outcomes are recorded, or None.
        clock: The current time in UTC.
        client_factory: Builds the HTTP client (tests give a mock transport);
            :func:`app.core.http.build_client` when None.
        retention: Returns how much history to keep, applied after each record.
    """

    def __init__(
        self,
        redactor: Redactor,
        history: HistoryRecorder | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        client_factory: ClientFactory | None = None,
        retention: Callable[[], Retention] | None = None,
    ) -> None:
        self._redactor = redactor
        self._history = history
        self._clock = clock
        self._client_factory = client_factory
        self._retention = retention

    def context(
        self,
        request: RunRequest,
        facts: TokenFacts | None = None,
        *,
        proxy: str | None = None,
    ) -> RunContext:
        """Return the context outcomes of ``request`` are worded with."""
        now = self._clock()
        facts = facts or token_facts(request.token)
        return RunContext(
            plan_id=request.plan_id,
            user_id=request.user_id,
            queue_url=request.gateway.queue_url,
            host=request.gateway.host,
            profile=request.profile,
            started_at=now,
            read_timeout=request.client.read_timeout,
            token_expiry=facts.expiry_words(now) if facts.expires_at else None,
            token_expired=facts.is_expired(now),
            token_fingerprint=facts.fingerprint,
            proxy=None if proxy is None else mask_proxy(proxy),
        )

    def run(self, request: RunRequest, canceller: Canceller | None = None) -> RunResult:
        """Send the run once and return its outcome, recorded in the history.

        Raises:
            SetupError: The run cannot be sent safely, or the token cannot be
                put in an HTTP header (nothing was sent).
        """
        self._redactor.add(request.token)
        check_transport(
            request.gateway, request.allow_plain_http, ad_hoc=request.profile is None
        )
        body = QueueRequest(plan_id=request.plan_id, user_id=request.user_id).body()
        settings = for_gateway(request.client, request.gateway)
        context = self.context(
            request, proxy=proxy_in_use(request.gateway.queue_url, settings)
        )
        canceller = canceller or Canceller()
        log.info(
            "Run: plan %s, user %s, profile %s, %s",
            request.plan_id,
            request.user_id,
            request.profile,
            request.gateway.queue_url,
        )
        # httpx is imported by the first run, not when the app starts.
        from app.core.http import build_client, post_queue  # noqa: PLC0415

        client = (self._client_factory or build_client)(settings, canceller)
        with client:
            exchange = post_queue(
                client,
                request.gateway.queue_url,
                body,
                request.token,
                answer_seconds=settings.read_timeout,
                connect_seconds=connect_deadline(settings),
                canceller=canceller,
            )
        outcome = decode(exchange, context, self._redactor.redact)
        log.info(
            "Outcome: %s (HTTP %s, code %s) in %s ms",
            outcome.category.value,
            outcome.http_status,
            outcome.code,
            outcome.duration_ms,
        )
        return RunResult(outcome, self.record(outcome, request))

    def record(self, outcome: Outcome, request: RunRequest | None = None) -> str | None:
        """Record an outcome; return a problem to show if that failed."""
        if self._history is None:
            return None
        # A failed history write is reported beside the outcome, never instead of it.
        try:
            self._history.record(
                outcome,
                plan_name=request.plan_name if request else None,
                user_name=request.user_name if request else None,
            )
        except HistoryError as error:
            # Its message says already what could not be saved, and why.
            log.warning("Could not record the run in the history: %s", error)
            return str(error)
        except Exception as error:
            log.exception("Could not record the run in the history")
            return f"The run could not be saved in the history: {error}"
        return self.apply_retention()

    def apply_retention(self) -> str | None:
        """Prune the history to the retention; return a problem to show, if any."""
        if self._history is None or self._retention is None:
            return None
        keep = self._retention()
        if keep.keep_days is None and keep.keep_runs is None:
            return None
        try:
            removed = self._history.prune(keep.keep_days, keep.keep_runs)
        except Exception as error:  # noqa: BLE001 - pruning must not fail a run
            log.warning("Could not apply the history retention: %s", error)
            return f"Old runs could not be removed from the history: {error}"
        if removed:
            log.info("Removed %s old runs from the history", removed)
        return None
