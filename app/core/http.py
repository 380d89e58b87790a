"""The HTTP side of a run: the one client factory and the one sender.

Everything that decides how Plan Runner talks to a gateway (TLS trust, proxy,
timeouts, redirects, how much of an answer is read) is decided here. The plain
data a run is described by lives in :mod:`app.core.exchange`, so that modules
which only describe runs do not import httpx.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpcore
import httpx
from httpx import _utils as httpx_utils

from app.core.errors import SetupError
from app.core.exchange import (
    MAX_BODY_BYTES,
    Answer,
    Canceller,
    ClientSettings,
    Exchange,
    Failure,
    authorization_header,
    mask_proxy,
    seconds_text,
)
from app.core.urls import is_ip_address

log = logging.getLogger(__name__)


def tls_context(extra_ca_file: Path | None = None) -> ssl.SSLContext:
    """Return a TLS context that trusts the OS trust store plus ``extra_ca_file``.

    There is deliberately no way to turn verification off.

    Raises:
        SetupError: The extra CA file cannot be read.
    """
    import truststore  # noqa: PLC0415 - costs an import only when a client is built

    context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if extra_ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(extra_ca_file))
        except (OSError, ssl.SSLError) as error:
            raise SetupError(
                f"The extra CA file {extra_ca_file} cannot be used: "
                f"{getattr(error, 'strerror', None) or error}. "
                "Check the path in the settings or the machine policy."
            ) from None
    return context


class _TrackedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, canceller: Canceller) -> None:
        self._inner = inner
        self._canceller = canceller
        canceller.track(self)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._canceller.forget(self)
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        self._canceller.forget(self)
        inner = self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _TrackedStream(inner, self._canceller)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def abort(self) -> None:
        sock = self._inner.get_extra_info("socket")
        if sock is None:
            return
        with contextlib.suppress(OSError):  # already closed: nothing to abort
            sock.shutdown(socket.SHUT_RDWR)


class _CancellableBackend(httpcore.SyncBackend):
    def __init__(self, canceller: Canceller) -> None:
        self._canceller = canceller

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        if self._canceller.cancelled:
            raise httpcore.ConnectError("the run was cancelled before it connected")
        stream = super().connect_tcp(host, port, timeout, local_address, socket_options)
        return _TrackedStream(stream, self._canceller)


def build_client(
    settings: ClientSettings,
    canceller: Canceller | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """Build the HTTP client for a gateway: the only place one is made.

    TLS is verified against the OS trust store (plus the extra CA file), proxies
    come from the settings or the environment (see :func:`proxy_routes`), every
    timeout is explicit, and redirects are never followed, so the token never
    goes to another origin. ``transport`` replaces the network (tests pass an
    ``httpx.MockTransport``).

    Raises:
        SetupError: The proxy of the settings cannot be used.
    """
    verify = tls_context(settings.extra_ca_file)
    routes = proxy_routes(settings)
    if settings.proxy and routes.unusable:
        raise SetupError(routes.unusable["all://"])
    for problem in routes.ignored:
        log.warning("Ignoring a proxy setting: %s", problem)
    mounts: dict[str, httpx.BaseTransport | None] = {}
    if transport is None:
        for pattern, proxy in routes.mounts.items():
            if proxy is None:
                mounts[pattern] = None
            elif pattern in routes.unusable:
                mounts[pattern] = _RefusedProxy(routes.unusable[pattern])
            else:
                mounts[pattern] = httpx.HTTPTransport(verify=verify, proxy=proxy)
    client = httpx.Client(
        verify=verify,
        # The proxies come from proxy_routes alone, so that what a run reports
        # is what the client does.
        trust_env=False,
        mounts=mounts,
        transport=transport,
        timeout=httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.write_timeout,
            pool=settings.pool_timeout,
        ),
        follow_redirects=False,
        headers={"User-Agent": settings.user_agent},
        event_hooks={"response": [_keep_location_from_httpx]},
    )
    if canceller is not None:
        _make_cancellable(client, canceller)
    return client


@dataclass(frozen=True)
class ProxyRoutes:
    """Which proxy each kind of URL goes through, as the client is built with it.

    Attributes:
        mounts: httpx's URL patterns (``"https://"``, ``"all://*corp.test"``)
            and the proxy URL for each, None where a ``NO_PROXY`` entry sends it
            directly. A value httpx cannot read is left out.
        unusable: Patterns whose proxy is well formed but cannot be used (a
            SOCKS proxy), with a sentence saying so. A request they apply to
            fails; it never goes around the proxy.
        ignored: Sentences on values that were left out of ``mounts``.
    """

    mounts: dict[str, str | None]
    unusable: dict[str, str]
    ignored: tuple[str, ...]


_SOCKS = re.compile(r"socks(4a?|5h?)?", re.IGNORECASE)


def proxy_problem(url: str) -> tuple[str, bool] | None:
    """Return why ``url`` cannot be a proxy, and whether it names a SOCKS one.

    A SOCKS proxy is understood but not supported: httpx needs an extra
    package for it, which Plan Runner does not ship.
    """
    scheme = url.partition("://")[0] if "://" in url else ""
    if _SOCKS.fullmatch(scheme):
        return "it names a SOCKS proxy, which Plan Runner does not support", True
    try:
        proxy = httpx.Proxy(url)
    except (ValueError, TypeError, httpx.InvalidURL) as error:
        return mask_proxy(str(error) or type(error).__name__), False
    if not proxy.url.host:
        return "it has no host name", False
    return None


def proxy_routes(
    settings: ClientSettings,
    environment: dict[str, str | None] | None = None,
    origin: Callable[[str], str] | None = None,
) -> ProxyRoutes:
    """Return the proxies a client built from ``settings`` uses.

    The settings' proxy applies to every URL. Otherwise, when ``trust_env`` is
    set, the environment's ``HTTP(S)_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` (and
    on Windows and macOS the system's settings) apply, read by httpx itself.
    ``environment`` replaces what httpx reads there, in the form httpx's
    ``get_environment_proxies`` returns it, and ``origin`` then names the
    variable behind a pattern (the diagnostics read another environment).
    """
    if settings.proxy:
        wanted: dict[str, str | None] = {"all://": settings.proxy}
    elif not settings.trust_env:
        wanted = {}
    elif environment is not None:
        wanted = dict(environment)
    else:
        # WORKAROUND: httpx has no public way to say which proxies the
        # environment gives; this is the function its own clients call.
        wanted = httpx_utils.get_environment_proxies()
    mounts: dict[str, str | None] = {}
    unusable: dict[str, str] = {}
    ignored: list[str] = []
    for pattern, proxy in wanted.items():
        try:
            httpx_utils.URLPattern(pattern)
        except (ValueError, TypeError, httpx.InvalidURL):
            ignored.append(f"the NO_PROXY entry for {pattern!r} is not understood")
            continue
        if proxy is None:
            mounts[pattern] = None
            note = _no_proxy_note(pattern)
            if note is not None:
                ignored.append(note)
            twin = _with_root_dot(pattern)
            if twin is not None:
                mounts.setdefault(twin, None)
            continue
        found = proxy_problem(proxy)
        if found is None:
            mounts[pattern] = proxy
            continue
        problem, socks = found
        where = (origin or _proxy_origin)(pattern) if not settings.proxy else ""
        where = where or "the proxy setting"
        if socks or settings.proxy:
            mounts[pattern] = proxy
            unusable[pattern] = _unusable_sentence(where, proxy, problem)
        else:
            ignored.append(
                f"{where}={mask_proxy(proxy)!r} is not a proxy URL ({problem})"
            )
    return ProxyRoutes(mounts, unusable, tuple(ignored))


def _no_proxy_entry(pattern: str) -> str:
    """Return the ``NO_PROXY`` entry httpx made ``pattern`` of, as it was written."""
    rest = pattern.removeprefix("all://")
    if rest != pattern and rest.startswith("*"):
        # httpx puts "*" before a name so that it matches subdomains too.
        rest = rest[1:]
    return rest


def _no_proxy_note(pattern: str) -> str | None:
    """Say why a ``NO_PROXY`` pattern does not match what its entry seems to mean.

    httpx understands names (``example.com``, ``.example.com``), addresses and
    URLs; a wildcard inside a name and an address range are taken literally
    and match nothing, or one address only. The request then goes through
    the proxy, so people are told.
    """
    entry = _no_proxy_entry(pattern)
    url = httpx.URL(pattern)
    host = url.host
    if "*" in host[1:] or (host.startswith("*") and entry.startswith("*")):
        suggestion = entry.lstrip("*")
        better = (
            f"; write {suggestion!r} for the subdomains of {suggestion[1:]!r}"
            if suggestion.startswith(".") and "*" not in suggestion
            else ""
        )
        return (
            f"the NO_PROXY entry {entry!r} matches nothing: the HTTP client does "
            f"not understand wildcards there{better}"
        )
    if re.fullmatch(r"/[0-9]{1,3}", url.path):
        return (
            f"the NO_PROXY entry {entry!r} matches only the address {host}: the "
            "HTTP client does not understand address ranges; list the gateway's "
            "address or name instead"
        )
    return None


def _with_root_dot(pattern: str) -> str | None:
    """Return ``pattern`` for the same name written with a final dot, or None.

    ``gw.example.com.`` is ``gw.example.com`` (the dot names the DNS root), but
    httpx compares names as text: without this twin, ``NO_PROXY=gw.example.com``
    would let a gateway URL spelled with the final dot go through the proxy the
    entry meant to avoid. Addresses have no such spelling.
    """
    scheme, _, rest = pattern.partition("://")
    hostport, slash, path = rest.partition("/")
    if hostport.startswith("["):
        return None
    host, colon, port = hostport.partition(":")
    bare = host.lstrip("*")
    if not bare or bare.endswith(".") or "*" in bare or is_ip_address(bare):
        return None
    return f"{scheme}://{host}.{colon}{port}{slash}{path}"


def route_for(
    url: str, settings: ClientSettings, environment: dict[str, str | None] | None = None
) -> str | None:
    """Return the proxy a request to ``url`` goes through, or None when direct.

    The answer comes from an httpx client built with the same routes as
    :func:`build_client`'s, so it is the one httpx acts on.

    Raises:
        SetupError: The proxy that applies to ``url`` cannot be used.
    """
    routes = proxy_routes(settings, environment)
    pattern = matching_pattern(url, routes)
    if pattern is None:
        return None
    if pattern in routes.unusable:
        raise SetupError(routes.unusable[pattern])
    return routes.mounts[pattern]


def matching_pattern(url: str, routes: ProxyRoutes) -> str | None:
    """Return the pattern of ``routes`` httpx sends ``url`` by, or None for none.

    The pattern's value is the proxy, or None when ``NO_PROXY`` exempts ``url``.
    """
    probe = httpx.Client(
        transport=_Route(None),
        mounts={pattern: _Route(pattern) for pattern in routes.mounts},
        trust_env=False,
    )
    with probe:
        # WORKAROUND: httpx has no public way to ask which transport (and so
        # which proxy) a URL goes through; this is the method send() uses.
        chosen = probe._transport_for_url(httpx.URL(url))
    return chosen.pattern if isinstance(chosen, _Route) else None


class _Route(httpx.BaseTransport):
    """Stands for a mount of a client that only answers where a URL would go."""

    def __init__(self, pattern: str | None) -> None:
        self.pattern = pattern

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.UnsupportedProtocol("this client only routes, it never sends")


class _RefusedProxy(httpx.BaseTransport):
    """Fails every request with why the proxy that applies cannot be used."""

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ProxyError(self.problem, request=request)


def _proxy_origin(pattern: str) -> str:
    """Name the variable a proxy of ``pattern`` came from, as people set it."""
    scheme = pattern.partition("://")[0]
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
        if os.environ.get(name):
            return name
    return f"the system's {scheme.upper()} proxy setting"


def _unusable_sentence(where: str, proxy: str, problem: str) -> str:
    shown = mask_proxy(proxy)
    if where == "the proxy setting":
        return (
            f"The proxy {shown!r} cannot be used: {problem}. Check the proxy in the "
            "profile's settings or the machine policy."
        )
    subject = where if where[:1].isupper() else where[:1].upper() + where[1:]
    if problem.startswith("it names a SOCKS proxy"):
        problem = problem.removeprefix("it ")
        return (
            f"{subject} {problem} ({shown}); set it to an http:// proxy, add the "
            "gateway's host to NO_PROXY, or unset it."
        )
    return f"{subject}={shown!r} cannot be used: {problem}. Fix it or unset it."


_LOCATION_KEY = "plan_runner.location"


def _keep_location_from_httpx(response: httpx.Response) -> None:
    # Redirects are never followed, yet httpx still parses Location to prepare the
    # next request, and a malformed value raises there. Move it aside for the decoder.
    location = response.headers.get("location")
    if location is not None:
        response.extensions[_LOCATION_KEY] = location
        del response.headers["location"]


def _make_cancellable(client: httpx.Client, canceller: Canceller) -> None:
    # WORKAROUND: httpx offers no public way to give a connection pool its network
    # backend; each pool (plain or proxy) keeps it in this attribute.
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        if pool is not None:
            pool._network_backend = _CancellableBackend(canceller)


def post_queue(
    client: httpx.Client,
    url: str,
    body: bytes,
    token: str,
    *,
    answer_seconds: float,
    connect_seconds: float | None = None,
    canceller: Canceller | None = None,
) -> Exchange:
    """Send one run request and read a bounded part of the answer.

    A connection that never opened is retried once; nothing is resent once bytes
    may have reached the gateway (see :class:`WireLog`). When the client was
    built with ``canceller``, a watchdog aborts the connection when time is up:
    ``connect_seconds`` (``answer_seconds`` when None) from the start while
    connecting (TCP, a proxy's tunnel, TLS), then ``answer_seconds`` from when
    the request began to be sent, so a gateway that answers a byte at a time
    cannot hold a run for ever.

    Raises:
        SetupError: The token cannot be put in an HTTP header; nothing was sent.
    """
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        # Compressed answers could inflate without bound; ask for none.
        "Accept-Encoding": "identity",
    }
    headers.update(authorization_header(token))
    _check_token_sendable(token)
    shown_headers = {**headers, "Authorization": "Bearer [REDACTED]"}
    started = time.monotonic()
    connect_limit = answer_seconds if connect_seconds is None else connect_seconds
    watchdog = None if canceller is None else _Watchdog(canceller)
    if watchdog is not None:
        watchdog.arm(connect_limit)
    attempts = 0
    try:
        while True:
            attempts += 1
            wire = WireLog(
                None if watchdog is None else lambda: watchdog.arm(answer_seconds)
            )
            try:
                answer = _send_once(client, url, body, headers, canceller, wire=wire)
            except httpx.HTTPError as error:
                failure = classify_failure(error, canceller, connect_limit, wire)
                if not failure.sent and attempts == 1 and failure.kind in _RETRYABLE:
                    log.info("Connecting failed (%s); trying once more", failure.kind)
                    continue
            except (httpx.InvalidURL, ValueError, UnicodeError) as error:
                failure = Failure("connect", f"the URL cannot be used: {error}", False)
            except KeyboardInterrupt:
                # Ctrl+C while waiting: the request may already be at the gateway.
                sent = wire.may_have_left if wire.reported else True
                failure = Failure(
                    "cancelled", "interrupted while waiting", sent, wire.waited_ms()
                )
            else:
                return Exchange(
                    answer, None, attempts, _ms_since(started), shown_headers
                )
            return Exchange(None, failure, attempts, _ms_since(started), shown_headers)
    finally:
        if watchdog is not None:
            watchdog.stop()


# An HTTP field value (RFC 9110) in ASCII, which is how httpx encodes header
# values: visible characters, with spaces or tabs only between them. h11, which
# writes the headers, refuses control characters and white space at either end
# (it lets DEL through, which no gateway would take in a token).
_FIELD_VALUE = re.compile(r"[\x21-\x7e](?:[\x20\x09\x21-\x7e]*[\x21-\x7e])?")


def _check_token_sendable(token: str) -> None:
    """Refuse a token the HTTP client could not put in the ``Authorization`` header.

    Such a token fails while the headers are encoded, after the connection is
    open; refusing it first says what is wrong, and that nothing was sent. The
    message names the position of the first bad character, never the token.

    Raises:
        SetupError: The token holds a character a header cannot carry.
    """
    if _FIELD_VALUE.fullmatch(authorization_header(token)["Authorization"]):
        return
    what = "it ends with white space" if token else "it is empty"
    for index, char in enumerate(token):
        if char in "\r\n":
            kind = "a line break"
        elif not char.isascii():
            kind = "a character outside ASCII"
        elif not char.isprintable() and char != "\t":
            kind = "an invisible control character"
        else:
            continue
        what = f"it holds {kind} (at position {index + 1} of {len(token)})"
        break
    raise SetupError(
        f"The token cannot be sent in an HTTP header: {what}. Nothing was sent. "
        "Set the token again, copied whole and without "
        "anything around it (the profile's settings, `plan-runner token set`, or "
        "PLAN_RUNNER_TOKEN)."
    )


class WireLog:
    """What a request did on the wire, as httpcore's ``trace`` events report it.

    Whether a failed request may have reached the gateway is decided here, by
    what happened, not by the type of the error: a proxy that never answers the
    tunnel request (CONNECT) fails with a read timeout although the run's own
    request was never written. The rule: the request may have left once its
    headers began to be sent (to the gateway, or to a plain-http proxy that
    forwards it), unless the HTTP library refused to encode them, which it
    does before it writes a byte. Everything before (TCP, the proxy's CONNECT,
    TLS) sends nothing of the run.

    A transport that reports no events (a test's mock) leaves the decision to
    the type of the error (see :func:`classify_failure`).

    Args:
        on_sending: Called once the run's request begins to be sent.
    """

    def __init__(self, on_sending: Callable[[], None] | None = None) -> None:
        self._on_sending = on_sending
        self.reported = False
        self.phase = "idle"
        self.may_have_left = False
        self._sending_since: float | None = None
        self._tunnel_request = False

    def __call__(self, name: str, info: dict[str, Any]) -> None:
        """Take one ``trace`` event, such as ``http11.send_request_headers.started``."""
        self.reported = True
        step, _, stage = name.rpartition(".")
        step = step.rpartition(".")[2]
        if step in ("connect_tcp", "connect_unix_socket") and stage == "started":
            self.phase = "connecting"
        elif step == "start_tls" and stage == "started":
            self.phase = "tls"
        elif step == "send_request_headers":
            self._on_headers(stage, info)
        elif step == "receive_response_headers" and stage == "started":
            self.phase = "tunnel" if self._tunnel_request else "waiting"

    def _on_headers(self, stage: str, info: dict[str, Any]) -> None:
        if stage == "started":
            request = info.get("request")
            self._tunnel_request = getattr(request, "method", None) == b"CONNECT"
            if self._tunnel_request:
                self.phase = "tunnel"
                return
            self.phase = "sending"
            self.may_have_left = True
            self._sending_since = time.monotonic()
            if self._on_sending is not None:
                self._on_sending()
        elif (
            stage == "failed"
            and not self._tunnel_request
            and isinstance(info.get("exception"), httpcore.LocalProtocolError)
        ):
            self.phase = "refused"
            self.may_have_left = False

    def waited_ms(self) -> int | None:
        """Return how long since the request began to be sent, if it did."""
        if self._sending_since is None:
            return None
        return _ms_since(self._sending_since)


class _Watchdog:
    """Cancels a run when the time of its current stage is up.

    Arming it again replaces the earlier limit: the connection has its limit,
    and the answer its own from when the request began to be sent.
    """

    def __init__(self, canceller: Canceller) -> None:
        self._canceller = canceller
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._generation = 0
        self._stopped = False

    def arm(self, seconds: float) -> None:
        """Cancel the run ``seconds`` from now, unless armed again or stopped."""
        with self._lock:
            if self._stopped:
                return
            if self._timer is not None:
                self._timer.cancel()
            self._generation += 1
            self._timer = threading.Timer(seconds, self._expire, (self._generation,))
            self._timer.daemon = True
            self._timer.start()

    def stop(self) -> None:
        """Let the run end without being cancelled."""
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()

    def _expire(self, generation: int) -> None:
        with self._lock:
            # A timer that fired as it was replaced has nothing left to bound.
            if self._stopped or generation != self._generation:
                return
            self._canceller.cancel("deadline")


_RETRYABLE = frozenset({"connect", "connect_timeout"})


def _send_once(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    canceller: Canceller | None,
    *,
    wire: WireLog,
) -> Answer:
    request = client.build_request(
        "POST", url, content=body, headers=headers, extensions={"trace": wire}
    )
    response = client.send(request, stream=True)
    try:
        response_headers = {k.lower(): v for k, v in response.headers.items()}
        if _LOCATION_KEY in response.extensions:
            response_headers["location"] = response.extensions[_LOCATION_KEY]
        reader = _BodyReader(response_headers.get("content-encoding", ""))
        interrupted = None
        try:
            for chunk in _raw_chunks(response):
                if not reader.feed(chunk):
                    break
        except httpx.TransportError as error:
            if canceller is not None and canceller.expired:
                waited = wire.waited_ms()
                after = "" if waited is None else f" after {seconds_text(waited)} s"
                interrupted = f"the answer arrived too slowly and was cut off{after}"
            else:
                name = type(error).__name__
                interrupted = f"the connection failed while reading the answer ({name})"
        return Answer(
            response.status_code,
            response_headers,
            reader.body(),
            reader.truncated,
            interrupted,
            reader.problem,
        )
    finally:
        response.close()


def _raw_chunks(response: httpx.Response) -> Iterator[bytes]:
    # The bytes as they came, undecoded, a chunk at a time as they arrive.
    try:
        yield from response.iter_raw()
    except httpx.StreamConsumed:
        # A response made in memory (a test transport) has its body already.
        yield response.content


class _BodyReader:
    """Collects at most :data:`MAX_BODY_BYTES` of a body, inflating it if needed.

    Decompression is bounded too, so a small compressed body ("zip bomb") cannot
    take the memory of the machine.
    """

    def __init__(self, encoding: str) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self.truncated = False
        self.problem: str | None = None
        name = encoding.strip().lower()
        self._inflater: Any = None
        if name in ("gzip", "x-gzip", "deflate"):
            # 32 + MAX_WBITS reads both gzip and zlib headers.
            self._inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)
        elif name not in ("", "identity"):
            self.problem = f"the answer is encoded as {name!r}, which is not read"

    def feed(self, raw: bytes) -> bool:
        """Take a raw chunk; return False once enough has been read."""
        data = raw
        if self._inflater is not None:
            try:
                data = self._inflater.decompress(raw, MAX_BODY_BYTES - self._size + 1)
            except zlib.error as error:
                self.problem = f"the answer's compressed body is damaged ({error})"
                return False
        self._chunks.append(data)
        self._size += len(data)
        if self._size > MAX_BODY_BYTES or (
            self._inflater is not None and self._inflater.unconsumed_tail
        ):
            self.truncated = True
            return False
        return True

    def body(self) -> bytes:
        """Return what was read, at most :data:`MAX_BODY_BYTES`."""
        if self.problem and self._inflater is None:
            return b""
        return b"".join(self._chunks)[:MAX_BODY_BYTES]


def classify_failure(
    error: httpx.HTTPError,
    canceller: Canceller | None = None,
    connect_seconds: float | None = None,
    wire: WireLog | None = None,
) -> Failure:
    """Say what kind of failure ``error`` is, and whether bytes may have left.

    ``wire``, when it saw the request's events, decides whether the request
    may have left; otherwise the type of ``error`` does. ``connect_seconds``
    is the time connecting was allowed, for the words of a deadline.
    """
    failure = _failure_by_type(error)
    witnessed = wire is not None and wire.reported
    sent = wire.may_have_left if wire is not None and witnessed else failure.sent
    waited = wire.waited_ms() if wire is not None and sent else None
    phase = wire.phase if wire is not None and witnessed else ""
    if canceller is not None and canceller.cancelled:
        if not witnessed:
            sent = not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
        if canceller.expired:
            if sent:
                within = "" if waited is None else f" within {seconds_text(waited)} s"
                return Failure(
                    "read_timeout", f"no complete answer{within}", True, waited
                )
            within = f" within {connect_seconds:g} s" if connect_seconds else ""
            if phase == "tunnel":
                return Failure(
                    "proxy",
                    f"the proxy did not open a tunnel to the gateway{within} "
                    "(no answer to CONNECT)",
                    False,
                )
            return Failure("connect_timeout", f"no connection{within}", False)
        return Failure(
            "cancelled", "the run was cancelled (the app was closing)", sent, waited
        )
    if sent == failure.sent:
        return dataclasses.replace(failure, waited_ms=waited)
    if sent:
        # The error's type says "never connected", yet the request began to
        # leave: the wire is what counts.
        return dataclasses.replace(failure, sent=True, waited_ms=waited)
    if phase == "tunnel":
        return Failure(
            "proxy",
            f"the proxy did not answer the request to open a tunnel (CONNECT): "
            f"{failure.detail}",
            False,
        )
    if phase == "refused":
        return Failure(
            "header",
            "the request's headers could not be encoded (a value holds characters "
            "an HTTP header cannot carry)",
            False,
        )
    return Failure("connect", f"{failure.detail} (while connecting)", False)


def _failure_by_type(error: httpx.HTTPError) -> Failure:
    """Classify ``error`` by its type alone, as if nothing else were known."""
    detail = _describe_error(error)
    if isinstance(error, httpx.ProxyError):
        return Failure("proxy", detail, sent=False, proxy_status=_proxy_status(error))
    if isinstance(error, httpx.ConnectTimeout):
        return Failure("connect_timeout", detail, sent=False)
    if isinstance(error, httpx.ConnectError):
        tls = _tls_reason(error)
        if tls is not None:
            return Failure("tls", tls, sent=False)
        if _is_dns_error(error):
            return Failure("dns", detail, sent=False)
        return Failure("connect", detail, sent=False)
    if isinstance(error, httpx.PoolTimeout):
        return Failure("pool_timeout", detail, sent=False)
    if isinstance(error, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return Failure("connect", detail, sent=False)
    if isinstance(error, httpx.WriteTimeout | httpx.WriteError):
        return Failure("write", detail, sent=True)
    if isinstance(error, httpx.ReadTimeout):
        return Failure("read_timeout", detail, sent=True)
    if isinstance(error, httpx.RemoteProtocolError) and not _hung_up(detail):
        # Something came back, but not HTTP: a garbled status line, two lengths,
        # a head too long to keep. Not a dropped connection.
        return Failure(
            "protocol", f"the answer broke the rules of HTTP: {detail}", True
        )
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError):
        return Failure("dropped", detail, sent=True)
    return Failure("protocol", detail, sent=True)


def _hung_up(detail: str) -> bool:
    """Whether a protocol error's words say the other end closed the connection."""
    return any(words in detail.lower() for words in ("disconnect", "closed"))


def _proxy_status(error: httpx.ProxyError) -> int | None:
    # httpcore words a refused tunnel as "<status> <reason>".
    match = re.match(r"([1-5][0-9][0-9])\b", str(error))
    return int(match.group(1)) if match else None


def _describe_error(error: BaseException) -> str:
    if isinstance(error, httpx.LocalProtocolError):
        # Its text quotes the header value it refused, which may be the token
        # in a form (escaped) that redaction does not recognise.
        return "the request could not be encoded (LocalProtocolError)"
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:300]


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _tls_reason(error: BaseException) -> str | None:
    for cause in _causes(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate not trusted: {cause.verify_message or cause.reason}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or cause}"
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        return f"TLS handshake failed: {text.splitlines()[0][:200]}"
    return None


def _is_dns_error(error: BaseException) -> bool:
    for cause in _causes(error):
        if isinstance(cause, socket.gaierror):
            return True
    text = str(error).lower()
    return (
        "name or service not known" in text
        or "nodename nor servname" in text
        or ("name resolution" in text)
    )


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
