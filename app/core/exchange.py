"""What a run sends and receives, as plain data: no HTTP library is imported here.

The GUI and the CLI build these before anything is sent; only
:mod:`app.core.http`, which does the sending, needs httpx. Keeping them apart
keeps httpx off the start-up path.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from app.core.urls import GatewayUrl

MAX_BODY_BYTES = 256 * 1024
"""How much of an answer is read; the rest of a huge body is never downloaded."""

USER_AGENT_PRODUCT = "PlanRunner"


@dataclass(frozen=True)
class ClientSettings:
    """How to reach a gateway.

    Attributes:
        read_timeout: Seconds to wait for the gateway's answer once the request
            began to be sent; a run bounds the whole answer by it, so a slow
            trickle cannot hold a run for ever.
        connect_timeout: Seconds to open the connection (TCP, a proxy's
            tunnel, TLS); a run allows at most ``read_timeout`` for it too.
        write_timeout: Seconds to send the request.
        pool_timeout: Seconds to wait for a free connection.
        extra_ca_file: A PEM file of CA certificates trusted on top of the
            operating system's trust store (a company CA).
        proxy: A proxy URL that overrides the environment's, or None.
        trust_env: Whether ``HTTPS_PROXY``/``NO_PROXY`` and friends apply.
        user_agent: The ``User-Agent`` header.
    """

    read_timeout: float = 30.0
    connect_timeout: float = 10.0
    write_timeout: float = 10.0
    pool_timeout: float = 5.0
    extra_ca_file: Path | None = None
    proxy: str | None = None
    trust_env: bool = True
    user_agent: str = USER_AGENT_PRODUCT


def authorization_header(token: str) -> dict[str, str]:
    """Return the ``Authorization`` header for ``token``: the only place it is built."""
    return {"Authorization": f"Bearer {token}"}


class Abortable(Protocol):
    """A network stream that can be shut down from another thread."""

    def abort(self) -> None:
        """Shut the stream's socket down; a blocked read wakes up."""
        ...


class Canceller:
    """Aborts the connections of a client from another thread.

    A blocked socket read does not notice that its client was closed; shutting the
    socket down does wake it. The GUI uses this to quit cleanly mid-request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: set[Abortable] = set()
        self._cancelled = False
        self.reason = "cancelled"

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled

    @property
    def expired(self) -> bool:
        """Whether the run's deadline, not a person, cancelled it."""
        return self._cancelled and self.reason == "deadline"

    def cancel(self, reason: str = "cancelled") -> None:
        """Abort every open connection now, and refuse new ones."""
        with self._lock:
            if not self._cancelled:
                self.reason = reason
            self._cancelled = True
            streams = list(self._streams)
        for stream in streams:
            stream.abort()

    def track(self, stream: Abortable) -> None:
        """Abort ``stream`` on cancel (at once, if cancelled already)."""
        with self._lock:
            self._streams.add(stream)
            cancelled = self._cancelled
        if cancelled:
            stream.abort()

    def forget(self, stream: Abortable) -> None:
        """Stop tracking ``stream``: it was closed."""
        with self._lock:
            self._streams.discard(stream)


def for_gateway(settings: ClientSettings, gateway: GatewayUrl) -> ClientSettings:
    """Return the settings a request to ``gateway`` really uses.

    A gateway on this machine is reached directly, never through a proxy: the
    proxy may be on another machine, and it would see the token of a plain-http
    loopback run. Runs, ``plan-runner status`` and the connectivity doctor all
    apply this, so they agree on how a gateway is reached.
    """
    if gateway.is_loopback:
        return dataclasses.replace(settings, proxy=None, trust_env=False)
    return settings


def proxy_in_use(url: str, settings: ClientSettings) -> str | None:
    """Return the proxy a request to ``url`` goes through, or None when direct.

    httpx is asked (see :func:`app.core.http.route_for`), so the proxy named in
    an outcome is the one the request really took. Only a run calls this, just
    before it imports httpx to send.

    Raises:
        SetupError: The proxy that applies cannot be used (a SOCKS proxy, or a
            malformed proxy of the settings).
    """
    from app.core.http import route_for  # noqa: PLC0415 - keeps httpx off start-up

    return route_for(url, settings)


def mask_proxy(proxy: str) -> str:
    """Return a proxy URL with its password hidden, for messages."""
    # The password ends at the first "@"; it may hold "/" or ":" itself.
    return re.sub(r"(//[^:/@\s]*:)[^@\s]*@", r"\1***@", proxy)


def seconds_text(ms: int) -> str:
    """Return a duration in milliseconds as seconds for people: ``3``, ``2.5``, ``12``.

    Whole seconds from ten on, tenths below, so a wait of 3,004 ms reads "3".
    """
    if ms >= 10_000:
        return f"{ms / 1000:.0f}"
    return f"{round(ms / 1000, 1):g}"


@dataclass(frozen=True)
class Answer:
    """What the gateway sent back, as far as it was read.

    Attributes:
        status: The HTTP status.
        headers: The response headers, names in lower case.
        body: Up to :data:`MAX_BODY_BYTES` of the body.
        truncated: The body was longer than what was read.
        interrupted: Reading the body failed part-way (dropped, timed out).
        unreadable: Why the body could not be read (an unknown or damaged
            compression), when it could not.
    """

    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool = False
    interrupted: str | None = None
    unreadable: str | None = None


@dataclass(frozen=True)
class Failure:
    """Why no answer came.

    Attributes:
        kind: ``dns``, ``connect``, ``connect_timeout``, ``tls``, ``proxy``,
            ``pool_timeout``, ``header``, ``write``, ``read_timeout``,
            ``dropped``, ``cancelled`` or ``protocol``.
        detail: A short, redacted description for support.
        sent: Whether request bytes may have reached the gateway.
        waited_ms: How long the answer was waited for, from when the request
            began to be sent, when it began to be.
        proxy_status: The HTTP status a proxy refused to open a tunnel with
            (``kind`` is then ``proxy``).
    """

    kind: str
    detail: str
    sent: bool
    waited_ms: int | None = None
    proxy_status: int | None = None

    def __post_init__(self) -> None:
        # The detail goes inside sentences that end it themselves.
        object.__setattr__(self, "detail", self.detail.strip().rstrip("."))


@dataclass(frozen=True)
class Exchange:
    """One request and what came of it.

    Attributes:
        answer: The answer, when the gateway sent a status line.
        failure: Why there is no answer, otherwise.
        attempts: How many connections were tried (a retry happens only when the
            first one never opened).
        elapsed_ms: Time from the first attempt to the end of the read.
        request_headers: The headers sent, with the token redacted.
    """

    answer: Answer | None
    failure: Failure | None
    attempts: int
    elapsed_ms: int
    request_headers: dict[str, str] = field(default_factory=dict)
