"""Gateway URLs: what a person may type, and the one ``/queue`` URL it leads to."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.core.errors import InputError

QUEUE_PATH = "/queue"


@dataclass(frozen=True)
class GatewayUrl:
    """A validated gateway URL.

    Attributes:
        base: The gateway as the user means it, normalised, without a trailing slash.
        queue_url: Where the run request goes: ``base`` plus exactly one ``/queue``.
        scheme: ``http`` or ``https``.
        host: The host name or address, lower case, without brackets.
        port: The explicit port, or None for the scheme's default.
    """

    base: str
    queue_url: str
    scheme: str
    host: str
    port: int | None

    @property
    def is_loopback(self) -> bool:
        """Whether the gateway is on this machine."""
        return is_loopback_host(self.host)

    @property
    def is_plain_http(self) -> bool:
        """Whether the token would travel unencrypted."""
        return self.scheme == "http"

    @property
    def origin(self) -> str:
        """Scheme, host and port: where the token may be sent."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}"

    def __str__(self) -> str:
        return self.base


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` names this machine."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_gateway_url(text: str) -> GatewayUrl:
    """Validate and normalise a gateway URL typed or pasted by a person.

    The scheme and host are required and lower-cased, a path prefix is kept,
    trailing slashes fold, and a ``/queue`` the user pasted at the end is not
    doubled.

    Raises:
        InputError: The URL cannot be used, with what to fix.
    """
    raw = text.strip()
    if not raw:
        raise InputError(
            "Enter the gateway URL, for example https://gateway.example.com"
        )
    if any(ch.isspace() or ord(ch) < 0x20 for ch in raw):
        raise InputError("The gateway URL cannot contain spaces or line breaks.")
    if "://" not in raw:
        raise InputError(
            "The gateway URL needs a scheme: start it with https:// "
            "(or http:// for a gateway on this machine)."
        )
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as error:
        raise InputError(f"The gateway URL is not valid: {error}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(
            f"The gateway URL must start with https:// or http://, not {scheme}://."
        )
    if parts.username is not None or parts.password is not None:
        raise InputError(
            "Remove the user name and password from the gateway URL: "
            "the token is what signs you in."
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise InputError("The gateway URL has no host name.")
    if parts.query or parts.fragment:
        raise InputError("Remove the '?…' or '#…' part from the gateway URL.")

    path = parts.path.rstrip("/")
    while path.lower().endswith(QUEUE_PATH):
        path = path[: -len(QUEUE_PATH)].rstrip("/")
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if port is None else f"{shown_host}:{port}"
    base = f"{scheme}://{netloc}{path}"
    return GatewayUrl(
        base=base,
        queue_url=base + QUEUE_PATH,
        scheme=scheme,
        host=host,
        port=port,
    )
