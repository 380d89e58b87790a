"""A D-Bus session bus that lets clients in, then never answers them.

It speaks just enough of D-Bus's SASL handshake (``AUTH`` → ``OK <guid>``,
``NEGOTIATE_UNIX_FD`` → ``AGREE_UNIX_FD``, ``BEGIN``) for a client to believe it
is connected, then reads whatever the client sends and says nothing: the first
method call (``Hello``) waits for ever. That is what a wedged ``dbus-daemon`` or
keyring service looks like from the outside.

Run as a script (``python tests/silent_bus.py PATH``) it serves until killed,
for trying the app by hand.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

GUID = "0123456789abcdef0123456789abcdef"


class SilentBus:
    """Serves the handshake on a Unix socket, then stays silent.

    Use as a context manager; it yields the ``DBUS_SESSION_BUS_ADDRESS`` value.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._server = socket.socket(socket.AF_UNIX)
        self._clients: list[socket.socket] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> str:
        self._server.bind(str(self._path))
        self._server.listen(16)
        self._server.settimeout(0.1)
        accepting = threading.Thread(target=self._accept, daemon=True)
        accepting.start()
        self._threads.append(accepting)
        return f"unix:path={self._path}"

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        for client in self._clients:
            client.close()
        self._server.close()
        os.unlink(self._path)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._clients.append(client)
            serving = threading.Thread(target=self._serve, args=(client,), daemon=True)
            serving.start()
            self._threads.append(serving)

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(0.1)
        pending = b""
        authenticated = False
        while not self._stop.is_set():
            try:
                chunk = client.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            if authenticated:
                continue  # method calls: read, never answer
            pending += chunk
            while b"\r\n" in pending:
                line, pending = pending.split(b"\r\n", 1)
                line = line.lstrip(b"\0")
                if line.startswith(b"AUTH"):
                    reply = b"OK " + GUID.encode() + b"\r\n"
                    if line.strip() == b"AUTH":
                        reply = b"REJECTED EXTERNAL\r\n"
                    client.sendall(reply)
                elif line.startswith(b"NEGOTIATE_UNIX_FD"):
                    client.sendall(b"AGREE_UNIX_FD\r\n")
                elif line.startswith(b"BEGIN"):
                    authenticated = True
                    pending = b""
                    break
                else:
                    client.sendall(b"ERROR\r\n")


if __name__ == "__main__":
    with SilentBus(Path(sys.argv[1])) as address:
        print(address, flush=True)
        threading.Event().wait()
