"""Loopback servers that misbehave on the wire, for tests of what a run reports.

Each one runs on a thread and keeps what it received, so a test can say
whether the run's request reached it. Gateways on loopback are never reached
through a proxy, so the proxies here are used with a gateway name that is not
loopback (``gw.example.invalid``); the name is never resolved by the client.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

Respond = Callable[[socket.socket, bytes], None]


class WireServer:
    """A TCP server on loopback that hands each connection's first request to a rule.

    Args:
        respond: Called with the connection and the bytes of the request head
            (up to the blank line); it may answer, trickle, or do nothing.
    """

    def __init__(self, respond: Respond) -> None:
        self._respond = respond
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.heads: list[bytes] = []
        self._connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """Return ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> WireServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.close()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._connections.append(connection)
            thread = threading.Thread(
                target=self._serve, args=(connection,), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _serve(self, connection: socket.socket) -> None:
        head = b""
        # The server may close this connection before the thread gets here
        # (a client that gives up at once), so every socket call is guarded.
        with contextlib.suppress(OSError):
            connection.settimeout(30)
            while b"\r\n\r\n" not in head and not self._stop.is_set():
                chunk = connection.recv(65536)
                if not chunk:
                    return
                head += chunk
            with self._lock:
                self.heads.append(head)
            self._respond(connection, head)

    @property
    def stopped(self) -> bool:
        """Whether the server is closing."""
        return self._stop.is_set()

    def wait_stopped(self) -> None:
        """Keep a connection open, answering nothing, until the server closes."""
        self._stop.wait(60)


def stalled_server() -> WireServer:
    """Return a server that reads each request and never answers (a stalled proxy)."""
    server: WireServer

    def respond(connection: socket.socket, head: bytes) -> None:
        server.wait_stopped()

    server = WireServer(respond)
    return server


_SIGN_IN_PAGE = b"<html><h1>Sign in to the proxy</h1></html>"
PROXY_407 = (
    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
    b'Proxy-Authenticate: Basic realm="corp"\r\n'
    b"Content-Type: text/html\r\n"
    b"Content-Length: " + str(len(_SIGN_IN_PAGE)).encode() + b"\r\n"
    b"Connection: close\r\n\r\n" + _SIGN_IN_PAGE
)


def proxy_407() -> WireServer:
    """Return a proxy that asks for a sign-in (HTTP 407) whatever it is sent."""

    def respond(connection: socket.socket, head: bytes) -> None:
        connection.sendall(PROXY_407)
        connection.close()

    return WireServer(respond)


QUEUED_BODY = b'{"data": null, "result": {"code": 0, "message": "success"}}'


def trickling_gateway(part: str, every: float = 0.25) -> WireServer:
    """Return a gateway that sends its answer a byte every ``every`` seconds.

    Args:
        part: ``"head"`` trickles the status line and headers; ``"body"``
            sends the headers at once and trickles the body.
        every: Seconds between bytes.
    """
    body = QUEUED_BODY * 20
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    server: WireServer

    def respond(connection: socket.socket, _: bytes) -> None:
        if part == "body":
            connection.sendall(head)
            slow = body
        else:
            slow = head + body
        for byte in _bytes(slow):
            if server.stopped:
                return
            connection.sendall(byte)
            time.sleep(every)

    server = WireServer(respond)
    return server


def _bytes(data: bytes) -> Iterator[bytes]:
    for index in range(len(data)):
        yield data[index : index + 1]
