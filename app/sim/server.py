"""Simulate the test gateway's queue endpoint, and the ways real gateways misbehave.

The simulator is both the test suite's gateway and the product's demo gateway. In the
``normal`` scenario it answers ``POST {prefix}/queue`` as the contract in
``queue-api.md`` says; the other scenarios make it answer the way proxies, firewalls,
frameworks and broken gateways answer in real life. Only the standard library is used,
so it starts in a few milliseconds and runs wherever Python does.

Every thread the simulator starts ends when :meth:`Simulator.stop` returns: slow,
hanging and trickling answers wait on a stop event, and idle keep-alive connections are
shut down.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import http.server
import ipaddress
import json
import logging
import math
import re
import select
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import types
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, Self, TypeGuard
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

MAX_ID: Final = 2**63 - 1
"""The largest ID the contract allows: a Java ``Long``."""

DEFAULT_TOKENS: Final[tuple[str, ...]] = ("demo-token",)
DEFAULT_PLANS: Final = frozenset(
    {681, 1, 2, 3, 42, 9_007_199_254_740_993, 9_223_372_036_854_775_807}
)
DEFAULT_USERS: Final = frozenset({1, 2, 3, 7})

_SCENARIO_HELP: Final[dict[str, str]] = {
    "normal": "answer as the contract says",
    "slow": "wait --slow-seconds, then answer normally",
    "hang": "never answer; close when the simulator stops",
    "drop": "read the request, then close without a response",
    "drop_before": "close every connection as soon as it is accepted",
    "html502": "502 nginx HTML page",
    "html503": "503 nginx HTML page",
    "html504": "504 nginx HTML page",
    "empty401": "401 with an empty body and a WWW-Authenticate header",
    "spring401": "401 with Spring's own error JSON",
    "oauth401": "401 with an OAuth2 error JSON",
    "forbidden": "403 HTML page from a firewall",
    "error500": "500 with the envelope",
    "ratelimit": "429 with Retry-After: 30",
    "redirect": "302 to a login page",
    "redirect301": "301 to the https version of the same URL",
    "redirect307": "307 to the https version of the same URL",
    "redirect308": "308 to the https version of the same URL",
    "notfound": "404 as if the path prefix were wrong",
    "toolarge": "413 plain text",
    "code_nonzero": "200 with envelope code 12345",
    "code_string": 'a 200 envelope whose code is the string "0"',
    "missing_result": 'a 200 envelope without "result"',
    "extra_fields": "a success envelope with extra fields at every level",
    "not_json": "200 text/plain OK",
    "truncated": "200 JSON cut off in the middle",
    "huge": "200 with a 20 MB HTML page",
    "trickle": "200 success envelope sent one byte every 2 seconds",
    "echo_token": "401 whose message and header echo the bearer token back; "
    "the health page shows the tokens it accepts",
    "gzip_bomb": "200 gzip body of 130 KB that inflates to 128 MB",
    "endless": "200 chunked body that never ends, a chunk every 0.2 seconds",
}

SCENARIOS: Final[tuple[str, ...]] = tuple(_SCENARIO_HELP)
"""The names :class:`Simulator` accepts as ``scenario``."""

_POLL_SECONDS: Final = 0.05
_JOIN_SECONDS: Final = 2.0
_IDLE_TIMEOUT_SECONDS: Final = 60.0
_TLS_HANDSHAKE_SECONDS: Final = 10.0
_MAX_BODY_BYTES: Final = 1024 * 1024
_HUGE_BODY_BYTES: Final = 20 * 1024 * 1024
_HUGE_CHUNK_BYTES: Final = 64 * 1024
_TRICKLE_INTERVAL_SECONDS: Final = 2.0

_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})
_BEARER_PATTERN: Final = re.compile(r"(?i)\b(bearer\s+)\S+")
_DIGITS: Final = re.compile(r"[0-9]+")


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request the simulator received, with its credentials redacted.

    Attributes:
        method: The HTTP method, e.g. ``"POST"``.
        path: The request target as sent, query string included.
        headers: The request headers; credentials are replaced by ``[REDACTED]``,
            so ``Authorization`` reads ``Bearer [REDACTED]``.
        body: The raw request body.
        token_ok: Whether the request carried one of the accepted bearer tokens.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    token_ok: bool


@dataclasses.dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


class _FramingError(Exception):
    """The request body could not be read; answer with ``reply`` and close."""

    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


class _ClientGoneError(Exception):
    """The client closed the connection before sending its whole body."""


class _GatewayState:
    """What the gateway knows and what it has seen, shared by all connections."""

    def __init__(
        self,
        *,
        tokens: Iterable[str],
        plans: Iterable[int] | None,
        users: Iterable[int] | None,
        scenario: str,
        prefix: str,
        slow_seconds: float,
    ) -> None:
        self.tokens = frozenset(_validated_token(token) for token in tokens)
        self.plans = _validated_ids(DEFAULT_PLANS if plans is None else plans, "plan")
        self.users = _validated_ids(DEFAULT_USERS if users is None else users, "user")
        self.prefix = normalize_prefix(prefix)
        self.queue_path = f"{self.prefix}/queue"
        self.health_paths = frozenset(
            {self.prefix or "/", f"{self.prefix}/", f"{self.prefix}/health"}
        )
        if not (math.isfinite(slow_seconds) and slow_seconds >= 0):
            raise ValueError(f"slow_seconds must be 0 or more, not {slow_seconds!r}")
        self.slow_seconds = float(slow_seconds)
        self.scenario = _validated_scenario(scenario)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    def token_ok(self, authorization: str | None) -> bool:
        """Tell whether an ``Authorization`` value carries an accepted bearer token."""
        if authorization is None:
            return False
        scheme, _, token = authorization.strip().partition(" ")
        return scheme.lower() == "bearer" and token.strip() in self.tokens

    def record(self, request: RecordedRequest) -> None:
        """Append a request to the record."""
        with self._lock:
            self._requests.append(request)

    def recorded(self) -> list[RecordedRequest]:
        """Return a copy of the record."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._requests.clear()


class Simulator:
    """Serve the gateway's queue endpoint on a background thread.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with Simulator(scenario="html502") as gateway:
            httpx.post(f"{gateway.url}/queue", ...)

    Args:
        host: The address to listen on.
        port: The port to listen on; 0 picks a free one (see :attr:`port`).
        tokens: The bearer tokens the gateway accepts.
        plans: The plan IDs the gateway knows; ``None`` means :data:`DEFAULT_PLANS`.
        users: The user IDs the gateway knows; ``None`` means :data:`DEFAULT_USERS`.
        scenario: How to answer queue requests; one of :data:`SCENARIOS`.
        prefix: The path prefix in front of ``/queue``, e.g. ``"/api/v2"``.
        slow_seconds: How long the ``slow`` scenario waits before answering.
        ssl_context: A server-side TLS context; when given, the simulator speaks HTTPS.

    Raises:
        ValueError: A token, ID, prefix, scenario or delay is not usable.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tokens: Iterable[str] = DEFAULT_TOKENS,
        plans: Iterable[int] | None = None,
        users: Iterable[int] | None = None,
        scenario: str = "normal",
        prefix: str = "",
        slow_seconds: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, not {port}")
        self._host = host
        self._requested_port = port
        self._ssl_context = ssl_context
        self._state = _GatewayState(
            tokens=tokens,
            plans=plans,
            users=users,
            scenario=scenario,
            prefix=prefix,
            slow_seconds=slow_seconds,
        )
        self._lifecycle = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Bind the port and start serving on a background thread.

        Returns:
            The simulator itself, so ``Simulator().start()`` can be assigned.

        Raises:
            RuntimeError: The simulator is already running.
            OSError: The address cannot be bound, e.g. the port is taken.
        """
        with self._lifecycle:
            if self._server is not None:
                raise RuntimeError("The simulator is already running")
            self._state.stopping.clear()
            server = _Server(
                (self._host, self._requested_port), self._state, self._ssl_context
            )
            self._port = server.server_address[1]
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": _POLL_SECONDS},
                name=f"gateway-sim-{self._port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        logger.info(
            "Gateway simulator listening on %s (scenario: %s)", self.url, self.scenario
        )
        return self

    def stop(self) -> None:
        """Stop serving, end every connection and wait for the simulator's threads.

        Requests in flight are not answered: slow, hanging and trickling answers stop
        and their connections close. Calling it again, or before :meth:`start`, does
        nothing.
        """
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is None or thread is None:
                return
            self._state.stopping.set()
            server.shutdown()
            server.close_connections()
            server.join_connections(_JOIN_SECONDS)
            server.server_close()
            thread.join(_JOIN_SECONDS)
        logger.info("Gateway simulator on port %s stopped", self._port)

    @property
    def port(self) -> int:
        """The port the simulator listens on (or listened on, once stopped).

        Raises:
            RuntimeError: The simulator was never started.
        """
        if self._port is None:
            raise RuntimeError("The simulator has not been started")
        return self._port

    @property
    def url(self) -> str:
        """The gateway URL a client should use, path prefix included."""
        scheme = "http" if self._ssl_context is None else "https"
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(
            self._host, self._host
        )
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}{self._state.prefix}"

    @property
    def scenario(self) -> str:
        """The scenario queue requests are answered with."""
        return self._state.scenario

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, oldest first."""
        return self._state.recorded()

    @property
    def queue_posts(self) -> list[RecordedRequest]:
        """A copy of the POST requests to the queue path, oldest first."""
        return [
            request
            for request in self._state.recorded()
            if request.method == "POST"
            and urlsplit(request.path).path == self._state.queue_path
        ]

    def clear(self) -> None:
        """Forget every recorded request."""
        self._state.clear()

    def set_scenario(self, name: str) -> None:
        """Answer the queue requests that arrive from now on with another scenario.

        Args:
            name: One of :data:`SCENARIOS`.

        Raises:
            ValueError: The name is not a known scenario.
        """
        self._state.scenario = _validated_scenario(name)
        logger.info("Gateway simulator scenario is now %s", name)


def normalize_prefix(prefix: str) -> str:
    """Turn a path prefix into the form ``/a/b`` (or ``""`` for none).

    Args:
        prefix: A prefix such as ``"/api/v2"``, ``"api/v2/"`` or ``""``.

    Returns:
        The prefix with one leading slash and no trailing slash.

    Raises:
        ValueError: The prefix holds a query, a fragment, whitespace or ``//``.
    """
    stripped = prefix.strip("/")
    if not stripped:
        return ""
    if any(character in stripped for character in "?#% \t\r\n") or "//" in stripped:
        raise ValueError(f"not a usable path prefix: {prefix!r}")
    return f"/{stripped}"


def _validated_token(token: str) -> str:
    if not isinstance(token, str) or not token or token != token.strip():
        raise ValueError(
            "a token must be a non-empty string without surrounding spaces"
        )
    if any(character.isspace() for character in token):
        raise ValueError("a token must not contain spaces")
    return token


def _validated_ids(ids: Iterable[int], kind: str) -> frozenset[int]:
    result = frozenset(ids)
    for value in result:
        if not _is_valid_id(value):
            raise ValueError(
                f"a {kind} ID must be an integer in 1..{MAX_ID}: {value!r}"
            )
    return result


def _validated_scenario(name: str) -> str:
    if name not in SCENARIOS:
        raise ValueError(
            f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}"
        )
    return name


def _is_valid_id(value: object) -> TypeGuard[int]:
    # bool is an int subclass, so compare the exact type: True is not plan 1.
    return type(value) is int and 1 <= value <= MAX_ID


def _parse_ids(body: bytes) -> tuple[int, int] | None:
    """Return ``(planId, userId)`` from a queue request body, or None if malformed."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    plan_id, user_id = payload.get("planId"), payload.get("userId")
    if not (_is_valid_id(plan_id) and _is_valid_id(user_id)):
        return None
    return plan_id, user_id


def _dump(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _envelope(code: object, message: str) -> dict[str, Any]:
    return {"data": None, "result": {"code": code, "message": message}}


def _json_reply(
    status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()
) -> _Reply:
    return _Reply(status, _dump(payload), "application/json", headers)


def _spring_error(
    status: int, error: str, path: str, timestamp: str | None = None
) -> dict[str, Any]:
    if timestamp is None:
        now = datetime.datetime.now(datetime.UTC)
        timestamp = f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}+00:00"
    return {"timestamp": timestamp, "status": status, "error": error, "path": path}


def _html_reply(status: int, title: str, footer: str = "nginx") -> _Reply:
    page = (
        f"<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {title}</h1></center>\r\n"
        f"<hr><center>{footer}</center>\r\n</body>\r\n</html>\r\n"
    )
    return _Reply(status, page.encode(), "text/html")


def _contract_reply(
    state: _GatewayState, token_ok: bool, ids: tuple[int, int] | None
) -> _Reply:
    """Answer a queue request the way the contract says."""
    if not token_ok:
        return _json_reply(
            401,
            _envelope(1000, "Full authentication is required to access this resource"),
        )
    if ids is None:
        return _json_reply(400, _envelope(400, "INVALID_REQUEST"))
    plan_id, user_id = ids
    if plan_id not in state.plans:
        return _json_reply(200, _envelope(10000, f"Plan with id {plan_id} not found!"))
    if user_id not in state.users:
        return _json_reply(200, _envelope(10002, f"User with id {user_id} not found!"))
    return _json_reply(200, _envelope(0, "success"))


def _echo_token_reply(authorization: str) -> _Reply:
    """Answer like a debug gateway that repeats the credential it was given."""
    message = f"Token rejected: {authorization}"
    body = _dump(_envelope(1000, message))
    challenge = f'Bearer error="invalid_token", error_description="{authorization}"'
    return _Reply(
        401,
        body=body,
        content_type="application/json",
        headers=(("WWW-Authenticate", challenge),),
    )


@functools.cache
def _gzip_bomb() -> bytes:
    """Return a gzip body of about 130 KB that inflates to 128 MiB of zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(128)]
    return b"".join(parts) + compressor.flush()


def _canned_reply(scenario: str, path: str, host: str) -> _Reply | None:
    """Return the fixed answer of a misbehaving scenario, or None if it has none."""
    match scenario:
        case "gzip_bomb":
            return _Reply(
                200,
                body=_gzip_bomb(),
                content_type="application/json",
                headers=(("Content-Encoding", "gzip"),),
            )
        case "html502":
            return _html_reply(502, "Bad Gateway")
        case "html503":
            return _html_reply(503, "Service Temporarily Unavailable")
        case "html504":
            return _html_reply(504, "Gateway Time-out")
        case "empty401":
            challenge = (
                'Bearer realm="gateway", error="invalid_token", '
                'error_description="The access token expired"'
            )
            return _Reply(401, headers=(("WWW-Authenticate", challenge),))
        case "spring401":
            timestamp = "2026-01-01T00:00:00.000+00:00"
            return _json_reply(401, _spring_error(401, "Unauthorized", path, timestamp))
        case "oauth401":
            return _json_reply(
                401,
                {"error": "invalid_token", "error_description": "Token is malformed"},
            )
        case "forbidden":
            return _html_reply(403, "Forbidden", "Access denied by firewall policy")
        case "error500":
            return _json_reply(500, _envelope(500, "INTERNAL_SERVER_ERROR"))
        case "ratelimit":
            return _json_reply(
                429,
                {"status": 429, "error": "Too Many Requests", "retryAfterSeconds": 30},
                (("Retry-After", "30"),),
            )
        case "redirect":
            location = f"https://login.example.test/sso?next={path}"
            return _Reply(302, headers=(("Location", location),))
        case "redirect301" | "redirect307" | "redirect308":
            return _Reply(
                int(scenario.removeprefix("redirect")),
                headers=(("Location", f"https://{host}{path}"),),
            )
        case "notfound":
            return _json_reply(404, _spring_error(404, "Not Found", path))
        case "toolarge":
            return _Reply(413, b"413 Request Entity Too Large\n", "text/plain")
        case "code_nonzero":
            return _json_reply(200, _envelope(12345, "Quota exceeded for this project"))
        case "code_string":
            return _json_reply(200, _envelope("0", "success"))
        case "missing_result":
            return _json_reply(200, {"data": None})
        case "extra_fields":
            return _json_reply(
                200,
                {
                    "data": {"queueItemId": 5521, "position": 1},
                    "result": {
                        "code": 0,
                        "message": "success",
                        "traceId": "4bf92f3577b34da6",
                        "details": [],
                    },
                    "apiVersion": "2.0",
                    "timestamp": "2026-01-01T00:00:00.000+00:00",
                },
            )
        case "not_json":
            return _Reply(200, b"OK", "text/plain")
        case "truncated":
            return _Reply(200, b'{"data": null, "result": {"co', "application/json")
    return None


def _huge_page_chunks() -> Iterator[bytes]:
    """Yield an HTML page of exactly ``_HUGE_BODY_BYTES`` bytes, chunk by chunk."""
    head = b"<!DOCTYPE html>\n<html><head><title>Portal</title></head><body>\n"
    tail = b"</body></html>\n"
    line = b"<p>This page is far larger than any answer from the gateway.</p>\n"
    filler = (line * (_HUGE_CHUNK_BYTES // len(line) + 1))[:_HUGE_CHUNK_BYTES]
    yield head
    remaining = _HUGE_BODY_BYTES - len(head) - len(tail)
    while remaining > 0:
        chunk = filler[: min(len(filler), remaining)]
        remaining -= len(chunk)
        yield chunk
    yield tail


def _redacted_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in items:
        shown = _redacted_value(name, value)
        headers[name] = f"{headers[name]}, {shown}" if name in headers else shown
    return headers


def _redacted_value(name: str, value: str) -> str:
    """Return a header value with its credentials, if any, replaced by a mark."""
    if name.lower() not in _SECRET_HEADERS:
        return value
    scheme, _, credentials = value.strip().partition(" ")
    if name.lower() == "cookie" or not credentials:
        return "[REDACTED]"
    return f"{scheme} [REDACTED]"


def _shutdown_socket(sock: socket.socket) -> None:
    # The plain socket method, even for a TLS socket: it only wakes the threads blocked
    # on it and leaves the TLS object to the thread that owns the connection.
    with contextlib.suppress(OSError):  # already closed by the peer or its own thread
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answer one connection's requests according to the gateway state."""

    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "GatewaySimulator/1.0"
    # Headers and body go out in separate writes; with Nagle's algorithm on, each
    # answer would wait for the client's delayed ACK (about 40 ms on Linux).
    disable_nagle_algorithm = True
    # An idle keep-alive connection gives up after this; stop() ends it sooner.
    timeout = _IDLE_TIMEOUT_SECONDS

    def handle(self) -> None:
        try:
            super().handle()
        except OSError as exc:
            # The client left (reset, broken pipe, TLS EOF) or stop() shut the socket.
            logger.debug("Connection from %s ended: %s", self.client_address[0], exc)
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing here: each request is logged once it has been answered."""

    def log_message(self, format: str, *args: Any) -> None:
        """Send http.server's own messages (timeouts, bad request lines) to debug."""
        logger.debug("%s: %s", self.address_string(), format % args)

    def _handle(self) -> None:
        """Record the request, then answer it by its path and method."""
        state = self.server.state
        path = urlsplit(self.path).path
        token_ok = state.token_ok(self.headers.get("Authorization"))
        try:
            body = self._read_body()
        except _ClientGoneError:
            self._record(b"", token_ok)
            self.close_connection = True
            self._log(path, "client left while sending")
            return
        except _FramingError as error:
            self._record(b"", token_ok)
            self.close_connection = True
            self._send(error.reply)
            self._log(path, str(error.reply.status))
            return
        self._record(body, token_ok)

        if path == state.queue_path and self.command == "POST":
            self._answer_queue(path, body, token_ok)
        elif path == state.queue_path:
            self._send_spring_error(405, "Method Not Allowed", path, "POST")
        elif path in state.health_paths and self.command in ("GET", "HEAD"):
            if state.scenario == "echo_token":
                # A debug build's status page, as the doctor's GET may meet one.
                accepts = ", ".join(f"Bearer {token}" for token in sorted(state.tokens))
                self._send(
                    _Reply(
                        200,
                        body=f"UP (debug build, accepts: {accepts})".encode(),
                        content_type="text/plain; charset=utf-8",
                    )
                )
            else:
                self._send(_json_reply(200, {"status": "UP"}))
            self._log(path, "200")
        elif path in state.health_paths:
            self._send_spring_error(405, "Method Not Allowed", path, "GET, HEAD")
        else:
            self._send_spring_error(404, "Not Found", path)

    # Every method lands in _handle, so every request is recorded; others get a 501.
    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _handle
    do_OPTIONS = do_TRACE = do_CONNECT = _handle

    def _answer_queue(self, path: str, body: bytes, token_ok: bool) -> None:
        """Answer a queue POST the way the current scenario says."""
        state = self.server.state
        scenario = state.scenario
        ids = _parse_ids(body)

        def log(outcome: object) -> None:
            self._log(path, f"{outcome} [{scenario}]", ids, token_ok)

        if scenario == "drop":
            self.close_connection = True
            _shutdown_socket(self.connection)
            log("dropped without an answer")
            return
        if scenario == "hang":
            self._wait(None)
            self.close_connection = True
            log("closed without an answer")
            return
        if scenario == "slow" and not self._wait(state.slow_seconds):
            self.close_connection = True
            log("closed before the delay was over")
            return
        if scenario == "huge":
            log(f"200, {self._send_huge()} body bytes sent")
            return
        if scenario == "trickle":
            log(f"200, {self._send_trickle()} body bytes trickled")
            return
        if scenario == "endless":
            log(f"200, {self._send_endless()} chunks sent")
            return

        host = self.headers.get("Host") or (
            f"{self.server.server_name}:{self.server.server_port}"
        )
        if scenario == "echo_token":
            reply = _echo_token_reply(self.headers.get("Authorization") or "")
        else:
            reply = _canned_reply(scenario, path, host) or _contract_reply(
                state, token_ok, ids
            )
        self._send(reply)
        log(reply.status)

    def _read_body(self) -> bytes:
        """Read the request body as its framing says.

        Raises:
            _FramingError: The body's framing is invalid or announces too much.
            _ClientGoneError: The connection ended before the body did.
        """
        if "Transfer-Encoding" in self.headers:
            if self.headers["Transfer-Encoding"].strip().lower() != "chunked":
                raise _FramingError(_json_reply(400, _envelope(400, "INVALID_REQUEST")))
            return self._read_chunked()
        lengths = {
            value.strip() for value in self.headers.get_all("Content-Length", [])
        }
        if not lengths:
            return b""
        length_text = lengths.pop()
        if lengths or not _DIGITS.fullmatch(length_text):
            raise _FramingError(_json_reply(400, _envelope(400, "INVALID_REQUEST")))
        length = int(length_text)
        if length > _MAX_BODY_BYTES:
            raise _FramingError(_Reply(413, b"Request body too large\n", "text/plain"))
        body = self.rfile.read(length)
        if len(body) < length:
            raise _ClientGoneError
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024)
            if not size_line.endswith(b"\n"):
                raise _ClientGoneError
            size_text = size_line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                size = -1
            if size < 0 or len(body) + size > _MAX_BODY_BYTES:
                raise _FramingError(_json_reply(400, _envelope(400, "INVALID_REQUEST")))
            if size == 0:
                break
            chunk = self.rfile.read(size + 2)
            if len(chunk) < size + 2:
                raise _ClientGoneError
            body += chunk[:size]
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass  # trailers carry nothing the gateway uses
        return bytes(body)

    def _wait(self, seconds: float | None) -> bool:
        """Wait before answering, unless the simulator stops or the client leaves.

        Args:
            seconds: How long to wait; None waits until the simulator stops.

        Returns:
            True if the whole time passed, False if the wait was cut short.
        """
        stopping = self.server.state.stopping
        deadline = None if seconds is None else time.monotonic() + seconds
        while not stopping.is_set():
            step = _POLL_SECONDS * 2
            if deadline is not None:
                step = min(step, deadline - time.monotonic())
                if step <= 0:
                    return True
            # A client waiting for an answer sends nothing, so a readable socket means
            # it closed the connection (or stop() shut it down).
            readable, _, _ = select.select([self.connection], [], [], step)
            if readable:
                return False
        return False

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and reply.body:
            self.wfile.write(reply.body)

    def _send_spring_error(
        self, status: int, error: str, path: str, allow: str | None = None
    ) -> None:
        headers = () if allow is None else (("Allow", allow),)
        self._send(_json_reply(status, _spring_error(status, error, path), headers))
        self._log(path, str(status))

    def _send_huge(self) -> int:
        """Stream the 20 MB page; return how many body bytes were written."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(_HUGE_BODY_BYTES))
        self.end_headers()
        sent = 0
        try:
            for chunk in _huge_page_chunks():
                if self.server.state.stopping.is_set():
                    break
                self.wfile.write(chunk)
                sent += len(chunk)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass  # the client stopped reading, which is what it should do
        if sent < _HUGE_BODY_BYTES:
            self.close_connection = True
        return sent

    def _send_trickle(self) -> int:
        """Send a success envelope one byte at a time; return the bytes written."""
        body = _dump(_envelope(0, "success"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for sent in range(len(body)):
            try:
                self.wfile.write(body[sent : sent + 1])
            except (ConnectionError, ssl.SSLError, TimeoutError):
                self.close_connection = True
                return sent
            if sent + 1 < len(body) and not self._wait(_TRICKLE_INTERVAL_SECONDS):
                self.close_connection = True
                return sent + 1
        return len(body)

    def _send_endless(self) -> int:
        """Send a chunked body that never ends; return the chunks written."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunks = 0
        while self._wait(0.2):
            try:
                self.wfile.write(b"1\r\n \r\n")
                self.wfile.flush()
            except (ConnectionError, ssl.SSLError, TimeoutError):
                break
            chunks += 1
        self.close_connection = True
        return chunks

    def _record(self, body: bytes, token_ok: bool) -> None:
        self.server.state.record(
            RecordedRequest(
                method=self.command,
                path=self.path,
                headers=_redacted_headers(self.headers.items()),
                body=body,
                token_ok=token_ok,
            )
        )

    def _log(
        self,
        path: str,
        outcome: str,
        ids: tuple[int, int] | None = None,
        token_ok: bool | None = None,
    ) -> None:
        if token_ok is None:
            logger.info("%s %s -> %s", self.command, path, outcome)
            return
        plan_id, user_id = ids if ids is not None else ("-", "-")
        logger.info(
            "%s %s -> %s (planId=%s, userId=%s, token %s)",
            self.command,
            path,
            outcome,
            plan_id,
            user_id,
            "accepted" if token_ok else "missing or not accepted",
        )


class _Server(http.server.ThreadingHTTPServer):
    """Serve each connection on its own tracked daemon thread."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        state: _GatewayState,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.state = state
        self.ssl_context = ssl_context
        self._connections_lock = threading.Lock()
        self._connection_threads: set[threading.Thread] = set()
        self._connection_sockets: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the host's full name, which can take
        # seconds; the simulator never needs it.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"gateway-sim-{self.server_port}-conn",
            daemon=self.daemon_threads,
        )
        with self._connections_lock:
            # A thread stays listed until it has ended, so stop() can join it; the
            # ones that ended are dropped here.
            self._connection_threads = {
                listed for listed in self._connection_threads if listed.is_alive()
            }
            self._connection_threads.add(thread)
            self._connection_sockets.add(request)
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        connection: socket.socket | None = request
        try:
            if self.state.scenario == "drop_before":
                _shutdown_socket(request)
                logger.info(
                    "Connection from %s dropped on accept [drop_before]",
                    client_address[0],
                )
                return
            if self.ssl_context is not None:
                connection = self._start_tls(self.ssl_context, request, client_address)
            if connection is not None:
                self.finish_request(connection, client_address)
        except Exception:  # one broken connection must not end the server
            logger.exception("Unexpected error answering %s", client_address[0])
        finally:
            with self._connections_lock:
                self._connection_sockets.discard(request)
                if connection is not None:
                    self._connection_sockets.discard(connection)
            if connection is not None:
                self.shutdown_request(connection)

    def _start_tls(
        self, context: ssl.SSLContext, request: socket.socket, client_address: Any
    ) -> ssl.SSLSocket | None:
        """Wrap an accepted socket in TLS and shake hands; None if that failed."""
        try:
            tls = context.wrap_socket(
                request, server_side=True, do_handshake_on_connect=False
            )
        except (OSError, ValueError) as exc:
            logger.info("TLS setup for %s failed: %s", client_address[0], exc)
            self.shutdown_request(request)
            return None
        # wrap_socket took over the file descriptor: track the TLS socket instead, so
        # stop() can wake a handshake that never finishes.
        with self._connections_lock:
            self._connection_sockets.discard(request)
            self._connection_sockets.add(tls)
        tls.settimeout(_TLS_HANDSHAKE_SECONDS)
        try:
            if self.state.stopping.is_set():
                raise ConnectionAbortedError("the simulator is stopping")
            tls.do_handshake()
        except (OSError, ValueError) as exc:
            logger.info("TLS handshake with %s failed: %s", client_address[0], exc)
            with self._connections_lock:
                self._connection_sockets.discard(tls)
            self.shutdown_request(tls)
            return None
        return tls

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints to stderr when process_request fails; log it instead.
        logger.exception("Unexpected error answering %s", client_address[0])

    def close_connections(self) -> None:
        """Shut down every open connection, waking the threads blocked on them."""
        with self._connections_lock:
            sockets = list(self._connection_sockets)
        for sock in sockets:
            _shutdown_socket(sock)

    def join_connections(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds in all for the connection threads to end."""
        deadline = time.monotonic() + timeout
        with self._connections_lock:
            threads = list(self._connection_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [thread for thread in threads if thread.is_alive()]
        if alive:
            logger.warning(
                "%d simulator connection thread(s) still running after stop", len(alive)
            )


class _RedactBearer(logging.Filter):
    """Hide anything that follows ``Bearer`` in a log message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _BEARER_PATTERN.sub(r"\1[REDACTED]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _id_list(kind: str) -> Callable[[str], frozenset[int]]:
    def parse(text: str) -> frozenset[int]:
        items = [item.strip() for item in text.split(",")]
        if not all(_DIGITS.fullmatch(item) for item in items):
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind} IDs such as 1,2,3, not {text!r}"
            )
        ids = frozenset(int(item) for item in items)
        bad = sorted(value for value in ids if not _is_valid_id(value))
        if bad:
            raise argparse.ArgumentTypeError(
                f"{kind} IDs must be between 1 and {MAX_ID}, not {bad[0]}"
            )
        return ids

    return parse


def _port(text: str) -> int:
    if not _DIGITS.fullmatch(text.strip()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(
            f"expected a port from 0 to 65535, not {text!r}"
        )
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds, not {text!r}")
    return value


def _token(text: str) -> str:
    try:
        return _validated_token(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _build_parser() -> argparse.ArgumentParser:
    scenarios = "\n".join(
        f"  {name:<15} {text}" for name, text in _SCENARIO_HELP.items()
    )
    parser = argparse.ArgumentParser(
        prog="plan-runner simulate",
        description="Run a local test gateway that answers POST {prefix}/queue.",
        epilog=f"scenarios:\n{scenarios}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=_port, default=8080, help="port to listen on; 0 picks a free one"
    )
    parser.add_argument(
        "--token",
        dest="tokens",
        action="append",
        type=_token,
        metavar="TOKEN",
        help="an accepted bearer token; repeat for more (default: demo-token)",
    )
    parser.add_argument(
        "--plans", type=_id_list("plan"), metavar="IDS", help="known plan IDs: 681,42"
    )
    parser.add_argument(
        "--users", type=_id_list("user"), metavar="IDS", help="known user IDs: 1,7"
    )
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="normal",
        metavar="NAME",
        help="how to answer queue requests (see below; default: normal)",
    )
    parser.add_argument("--prefix", default="", help="path prefix, e.g. /api/v2")
    parser.add_argument(
        "--slow-seconds",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="delay of the slow scenario (default: 10)",
    )
    parser.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this cert")
    parser.add_argument(
        "--tls-key", metavar="FILE", help="the certificate's private key"
    )
    return parser


def _simulator_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> Simulator:
    """Build the simulator the arguments describe, or exit through ``parser.error``."""
    context = None
    if args.tls_key and not args.tls_cert:
        parser.error("--tls-key needs --tls-cert")
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            parser.error(f"cannot load the TLS certificate or key: {exc}")
    try:
        return Simulator(
            args.host,
            args.port,
            tokens=args.tokens or DEFAULT_TOKENS,
            plans=args.plans,
            users=args.users,
            scenario=args.scenario,
            prefix=args.prefix,
            slow_seconds=args.slow_seconds,
            ssl_context=context,
        )
    except ValueError as exc:
        parser.error(str(exc))


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve_until_signalled(simulator: Simulator, host: str) -> int:
    """Serve until SIGINT or SIGTERM; return the exit code."""
    if not _is_loopback(host):
        logger.warning(
            "Listening on %s, not on the loopback: other machines can reach this "
            "simulator, and it accepts well-known test tokens",
            host or "all interfaces",
        )
    received: list[int] = []
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(
                signum, lambda number, _frame: received.append(number)
            )
    try:
        try:
            simulator.start()
        except OSError as exc:
            print(
                f"plan-runner simulate: error: cannot listen on {host}: {exc}",
                file=sys.stderr,
            )
            return 1
        print(
            f"Simulator listening on {simulator.url} (scenario: {simulator.scenario})",
            flush=True,
        )
        while not received:
            time.sleep(0.2)
        logger.info("Stopping on %s", signal.Signals(received[0]).name)
    except KeyboardInterrupt:
        logger.info("Stopping on Ctrl+C")
    finally:
        simulator.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the simulator from the command line until SIGINT or SIGTERM.

    Call it on the main thread: the signal handlers are what end it.

    Args:
        argv: The arguments after ``plan-runner simulate``; None reads ``sys.argv``.

    Returns:
        0 after a clean stop (or ``--help``), 1 if the address cannot be bound, 2 if
        the arguments are not usable.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        simulator = _simulator_from_args(parser, args)
    except SystemExit as exc:
        # argparse exits 2 on bad arguments and 0 after --help; return, don't exit.
        return exc.code if isinstance(exc.code, int) else 2

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(_RedactBearer())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        return _serve_until_signalled(simulator, args.host)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
