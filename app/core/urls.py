"""Gateway URLs: what a person may type, and the one ``/queue`` URL it leads to."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.core.errors import InputError

QUEUE_PATH = "/queue"
DEFAULT_PORTS = {"http": 80, "https": 443}
"""The port each scheme connects to when the URL names none."""

_NAME_LABEL = re.compile(r"[a-z0-9_-]+")
_AFTER_ADDRESS = re.compile(r"(:\d*)?")
_MAX_LABEL = 63
_MAX_NAME = 253


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
        """Scheme, host and port: where the token may be sent.

        Every way of writing one origin gives the same text, so comparing two
        origins compares where they lead, not how they were typed: the scheme's
        default port is left out, a trailing dot is dropped from the host, an
        international name is in the ASCII (``xn--``) form the connection uses
        (which also shows look-alike letters for what they are), and an IPv6
        address is in its shortest form.
        """
        host = _origin_host(self.host)
        shown = f"[{host}]" if ":" in host else host
        default = DEFAULT_PORTS[self.scheme]
        port = f":{self.port}" if self.port not in (None, default) else ""
        return f"{self.scheme}://{shown}{port}"

    def __str__(self) -> str:
        return self.base


def is_ip_address(host: str) -> bool:
    """Whether ``host`` is an IP address (v4 or v6, without brackets), not a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` names this machine.

    Besides ``localhost`` and 127.0.0.0/8 and ``::1``: the fully qualified
    ``localhost.``, 127.x written as an IPv4-mapped IPv6 address, and the
    unspecified addresses (``0.0.0.0``, ``::``), which connect to this machine.
    """
    name = host.strip("[]").lower().removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _origin_host(host: str) -> str:
    """Return the one form of ``host`` that the connection uses."""
    name = host.removesuffix(".")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            return f"::ffff:{address.ipv4_mapped}"  # not ::ffff:a00:1
        return address.compressed
    if name.isascii():
        return name.lower()
    import httpx  # noqa: PLC0415 - the client is needed only for international names

    try:
        # The client's own encoding (IDNA 2008), not Python's "idna" codec (IDNA
        # 2003), which maps "ß" to "ss" and so names another host.
        return httpx.URL(f"http://{name}/").raw_host.decode("ascii").lower()
    except (httpx.InvalidURL, UnicodeError, ValueError):
        return name.lower()


def parse_gateway_url(text: str) -> GatewayUrl:
    """Validate and normalise a gateway URL typed or pasted by a person.

    The scheme and host are required and lower-cased, a path prefix is kept,
    ``.`` and ``..`` segments of the path are resolved, trailing slashes fold,
    and a ``/queue`` the user pasted at the end is not doubled.

    Raises:
        InputError: The URL cannot be used, with what to fix.
    """
    raw = text.strip()
    if not raw:
        raise InputError(
            "Enter the gateway URL, for example https://gateway.example.com"
        )
    if any(ch.isspace() or not ch.isprintable() for ch in raw):
        raise InputError(
            "The gateway URL cannot contain spaces, line breaks or invisible "
            "characters. Type it again, or copy it from the address bar."
        )
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
    if "]" in parts.netloc and not _AFTER_ADDRESS.fullmatch(
        parts.netloc.rsplit("]", 1)[-1]
    ):
        raise InputError(
            "The gateway URL has something after the ']' of its address: only a "
            "port such as :8443 may follow it."
        )
    if ":" not in host:
        host = _checked_name(host)
    if parts.query or parts.fragment:
        raise InputError("Remove the '?…' or '#…' part from the gateway URL.")

    # The HTTP client resolves dot segments before it sends; resolving them here
    # too makes the URL shown and stored the one the run goes to.
    path = remove_dot_segments(parts.path).rstrip("/")
    while path.lower().endswith(QUEUE_PATH):
        path = path[: -len(QUEUE_PATH)].rstrip("/")
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if port is None else f"{shown_host}:{port}"
    base = f"{scheme}://{netloc}{path}"
    _check_client_accepts(base + QUEUE_PATH, host)
    return GatewayUrl(
        base=base,
        queue_url=base + QUEUE_PATH,
        scheme=scheme,
        host=host,
        port=port,
    )


def remove_dot_segments(path: str) -> str:
    """Resolve the ``.`` and ``..`` segments of an absolute URL path.

    This is RFC 3986's algorithm (section 5.2.4) for a path that starts with
    ``/``, as browsers and the HTTP client apply it: ``/a/./b/../c`` is ``/a/c``,
    and ``..`` never climbs above the root. Only literal dots count: a
    percent-encoded ``%2e`` is sent as it is written, so it is kept that way.
    """
    segments = path.split("/")
    if "." not in segments and ".." not in segments:
        return path
    output: list[str] = []
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if len(output) > 1:
                output.pop()
            continue
        output.append(segment)
    if segments[-1] in (".", ".."):
        output.append("")  # "/a/b/.." names the folder "/a/"
    return "/".join(output)


def _checked_name(host: str) -> str:
    """Return a host name or IPv4 address that DNS and the HTTP client can use.

    Raises:
        InputError: It cannot name a host, with what to fix.
    """
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    # A name whose last part is a number is meant as an IPv4 address (no
    # top-level domain is a number). Refusing short forms such as 10.1 or
    # 0x7f.1 keeps the address the user sees the one the connection uses.
    if labels[-1].isascii() and labels[-1].isdigit():
        try:
            return str(ipaddress.IPv4Address(name))
        except ValueError:
            raise InputError(
                f"The gateway's address {host!r} is not a valid IPv4 address: "
                "write four numbers from 0 to 255 without leading zeros, such as "
                "10.0.0.5."
            ) from None
    if not name.isascii():
        return host
    if any(not label for label in labels):
        raise InputError(
            f"The gateway's host name {host!r} has an empty part between dots."
        )
    if any(not _NAME_LABEL.fullmatch(label) for label in labels):
        raise InputError(
            f"The gateway's host name {host!r} can hold only letters, digits, "
            "hyphens and dots."
        )
    if len(name) > _MAX_NAME or any(len(label) > _MAX_LABEL for label in labels):
        raise InputError(
            f"The gateway's host name is too long: at most {_MAX_NAME} characters, "
            f"and at most {_MAX_LABEL} between two dots."
        )
    return host


def _check_client_accepts(url: str, host: str) -> None:
    """Refuse a URL that the HTTP client would refuse when the run is sent.

    The client checks more than ``urlsplit`` does: international host names
    must be valid IDNA (full-width letters are not), ``xn--`` parts must decode,
    and the whole URL has a length limit.

    Raises:
        InputError: The client refuses the URL, with what to fix.
    """
    import httpx  # noqa: PLC0415 - the client is needed only once a URL is typed

    try:
        request = httpx.Request("POST", url)
        _ = request.url.host  # decodes xn-- parts, which may fail
    except (httpx.InvalidURL, UnicodeError, ValueError) as error:
        if "idna" in str(error).lower() or isinstance(error, UnicodeError):
            raise InputError(_host_name_problem(host)) from None
        raise InputError(f"The gateway URL is not valid: {error}.") from None


def _host_name_problem(host: str) -> str:
    problem = (
        f"The gateway's host name {host!r} is not a valid international domain name"
    )
    folded = unicodedata.normalize("NFKC", host).lower()
    if folded != host and folded.isascii():
        return (
            f"{problem}: it has full-width or other look-alike letters. Type it "
            f"with ordinary letters: {folded}"
        )
    if any(label.startswith("xn--") for label in host.split(".")):
        return (
            f"{problem}: a part starting with 'xn--' does not decode. Check the "
            "name, or type it in its own letters."
        )
    return f"{problem}. Check the name for mistyped or invisible characters."
