"""Proxies: which one applies to a gateway, and where it came from.

Proxy URLs are shown with their passwords hidden; the real URL is kept only for
connecting.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import re
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from app.core.exchange import ClientSettings
from app.core.settings import Profile
from app.core.urls import GatewayUrl
from app.core.workspace import Workspace

_CREDENTIALS = re.compile(r"(^|://)([^:@/\s]*):[^@/\s]*@")


def mask_proxy_url(url: str) -> str:
    """Return a proxy URL with its password replaced by ``***``."""
    return _CREDENTIALS.sub(r"\1\2:***@", url)


def proxy_password(url: str | None) -> str | None:
    """Return the password inside a proxy URL, if it has one."""
    if not url:
        return None
    match = re.search(r"(?:^|://)[^:@/\s]*:([^@/\s]*)@", url)
    if match is None or not match.group(1):
        return None
    return urllib.parse.unquote(match.group(1))


@dataclass(frozen=True)
class ProxyFacts:
    """The proxy a gateway is reached through, and why.

    Attributes:
        url: The proxy's URL with its password hidden, or None when the
            connection is direct.
        source: Where it came from, in words ("the environment variable
            HTTPS_PROXY", "the setting of profile 'stage'", "none").
        detail: One sentence for people.
        ignored: Values found but not used (malformed, or not understood).
        problem: Why an explicitly configured proxy cannot be used at all.
        proxy_url: The real URL, for connecting; never shown.
    """

    url: str | None
    source: str
    detail: str
    ignored: tuple[str, ...] = ()
    problem: str | None = None
    proxy_url: str | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, object]:
        """Return the facts as plain data, without the proxy's password."""
        return {
            "url": self.url,
            "source": self.source,
            "detail": self.detail,
            "ignored": list(self.ignored),
            "problem": self.problem,
        }


def proxy_source(workspace: Workspace, profile: Profile) -> str | None:
    """Say which setting gives ``profile`` its proxy, as client_settings decides."""
    policy, settings = workspace.policy, workspace.settings
    if policy.is_locked("proxy") and policy.proxy:
        return "the machine policy (locked by IT)"
    if profile.proxy:
        preset = policy.profile(profile.name)
        if preset is not None and preset.proxy == profile.proxy:
            return f"profile {profile.name!r} as preset by IT"
        return f"the setting of profile {profile.name!r}"
    if policy.proxy:
        return "the machine policy"
    if settings.proxy:
        return "Plan Runner's settings"
    return None


def _proxy_problem(url: str) -> str | None:
    """Return why httpx cannot use ``url`` as a proxy, or None."""
    import httpx  # noqa: PLC0415

    try:
        proxy = httpx.Proxy(url)
    except (ValueError, TypeError, httpx.InvalidURL) as error:
        return mask_proxy_url(str(error) or type(error).__name__)
    if not proxy.url.host:
        return "it has no host name"
    if (
        proxy.url.scheme.startswith("socks")
        and importlib.util.find_spec("socksio") is None
    ):
        return "SOCKS proxies need the 'socksio' package, which is not installed"
    return None


def _environment_proxies(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Return ``scheme -> (variable, value)`` the way urllib reads them.

    A lower-case variable wins over its upper-case twin, an empty lower-case
    one removes it, and ``HTTP_PROXY`` is ignored in a CGI environment.
    """
    found: dict[str, tuple[str, str]] = {}
    for name, value in environ.items():
        if value and name.lower().endswith("_proxy"):
            found[name.lower()[:-6]] = (name, value)
    if "REQUEST_METHOD" in environ:
        found.pop("http", None)
    for name, value in environ.items():
        if name.endswith("_proxy"):
            if value:
                found[name.lower()[:-6]] = (name, value)
            else:
                found.pop(name.lower()[:-6], None)
    return found


def _no_proxy_match(entry: str, gateway: GatewayUrl) -> tuple[bool, str | None]:
    """Return whether a NO_PROXY entry matches the gateway, as httpx matches it.

    The second value explains an entry that cannot mean what it seems to.
    """
    host = gateway.host
    port = gateway.port
    if "://" in entry:
        parts = urllib.parse.urlsplit(entry)
        scheme_ok = parts.scheme in ("all", gateway.scheme)
        try:
            entry_port = parts.port
        except ValueError:
            return False, f"{entry!r} has an invalid port and matches nothing"
        same_host = (parts.hostname or "") in ("", "*", host)
        return scheme_ok and same_host and entry_port in (None, port), None
    address_part = entry.split("/", 1)[0]
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(address_part.strip("[]"))
        note = None
        if "/" in entry:
            note = (
                f"{entry!r}: address ranges are not understood; it matches only "
                f"{address_part}"
            )
        return address_part.strip("[]") == host, note
    if entry.lower() == "localhost":
        return host == "localhost", None
    name, _, entry_port_text = entry.partition(":")
    name = name.lower()
    if not re.fullmatch(r"[a-z0-9*._-]+", name) or (
        entry_port_text and not entry_port_text.isdigit()
    ):
        return False, f"{entry!r} is not a host name and matches nothing"
    if name.startswith("*"):
        return False, (
            f"{entry!r}: wildcards are not understood and it matches nothing; write "
            f"{name.lstrip('*')!r} instead"
        )
    if entry_port_text and int(entry_port_text) != (port or 0):
        return False, None
    if name.startswith("."):
        return host.endswith(name), None
    return host == name or host.endswith("." + name), None


def effective_proxy(
    gateway: GatewayUrl,
    settings: ClientSettings,
    *,
    source: str | None = None,
    environ: Mapping[str, str] | None = None,
    system_proxies: Callable[[], Mapping[str, str]] | None = None,
) -> ProxyFacts:
    """Work out which proxy a run to ``gateway`` goes through, as httpx decides.

    An explicit proxy (profile, policy, settings) wins over the environment. In
    the environment, ``NO_PROXY`` is honoured; a malformed value is reported and,
    as :func:`~app.core.http.build_client` does, makes the app ignore the proxy
    variables altogether. Nothing here raises.
    """
    if settings.proxy:
        return _explicit_proxy(settings.proxy, source or "Plan Runner's settings")
    if not settings.trust_env:
        return ProxyFacts(None, "none", "No proxy: connects directly.")
    found = _found_proxies(environ, system_proxies)
    unusable = _unusable_proxies(found)
    if unusable is not None:
        return unusable
    bypass, notes = _no_proxy_bypass(found, gateway)
    chosen = found.get(gateway.scheme) or found.get("all")
    if chosen is None:
        other = [found[key][0] for key in ("http", "https") if key in found]
        why = (
            f" ({' and '.join(other)} {'is' if len(other) == 1 else 'are'} set, but "
            f"only {gateway.scheme.upper()}_PROXY or ALL_PROXY applies to "
            f"{gateway.scheme}:// gateways)"
            if other
            else ""
        )
        return ProxyFacts(
            None, "none", f"No proxy: connects directly{why}.", ignored=tuple(notes)
        )
    variable, value = chosen
    url = value if "://" in value else f"http://{value}"
    shown = mask_proxy_url(url)
    if bypass is not None:
        return ProxyFacts(
            None,
            "none (NO_PROXY)",
            f"No proxy: {bypass}, so it connects directly (otherwise {variable} "
            f"would send it through {shown}).",
            ignored=tuple(notes),
        )
    where = variable
    if not variable.startswith("the "):
        where = f"the environment variable {variable}"
    return ProxyFacts(
        shown,
        where,
        f"Through the proxy {shown}, from {where}.",
        ignored=tuple(notes),
        proxy_url=url,
    )


def _explicit_proxy(proxy: str, where: str) -> ProxyFacts:
    shown = mask_proxy_url(proxy)
    problem = _proxy_problem(proxy)
    if problem:
        return ProxyFacts(
            shown,
            where,
            f"The proxy {shown} set in {where} cannot be used: {problem}.",
            problem=f"The proxy {shown} set in {where} is not usable ({problem}).",
            proxy_url=proxy,
        )
    return ProxyFacts(
        shown,
        where,
        f"Through the proxy {shown}, set in {where} (NO_PROXY does not apply to it).",
        proxy_url=proxy,
    )


def _found_proxies(
    environ: Mapping[str, str] | None,
    system_proxies: Callable[[], Mapping[str, str]] | None,
) -> dict[str, tuple[str, str]]:
    """Return ``scheme -> (where, value)``: the environment, else the system's."""
    found = _environment_proxies(os.environ if environ is None else environ)
    if any(key in found for key in ("http", "https", "all", "no")):
        return found
    reader = system_proxies
    if reader is None and environ is None and sys.platform in ("win32", "darwin"):
        # Like urllib (and so httpx), fall back on the Windows or macOS settings.
        reader = urllib.request.getproxies
    if reader is None:
        return found
    return {
        key: ("the system proxy settings", value) for key, value in reader().items()
    }


def _unusable_proxies(found: Mapping[str, tuple[str, str]]) -> ProxyFacts | None:
    """Return the facts when a proxy value is malformed or unsupported."""
    ignored: list[str] = []
    unusable: list[str] = []
    for scheme in ("http", "https", "all"):
        if scheme not in found:
            continue
        variable, value = found[scheme]
        url = value if "://" in value else f"http://{value}"
        problem = _proxy_problem(url)
        if problem is None:
            continue
        text = f"{variable}={mask_proxy_url(value)!r} ({problem})"
        (unusable if "socksio" in problem else ignored).append(text)
    if unusable:
        text = "The proxy in the environment cannot be used: " + "; ".join(unusable)
        return ProxyFacts(None, "the environment", text, problem=text + ".")
    if ignored:
        return ProxyFacts(
            None,
            "none (the proxy variables are ignored)",
            "No proxy: connects directly, because the proxy variables are all "
            "ignored when one of them is malformed: " + "; ".join(ignored) + ".",
            ignored=tuple(ignored),
        )
    return None


def _no_proxy_bypass(
    found: Mapping[str, tuple[str, str]], gateway: GatewayUrl
) -> tuple[str | None, list[str]]:
    """Return why NO_PROXY exempts the gateway (or None), and notes on its entries."""
    notes: list[str] = []
    bypass: str | None = None
    if "no" not in found:
        return None, notes
    variable, value = found["no"]
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            continue
        if entry == "*":
            return f"{variable} is '*'", notes
        matches, note = _no_proxy_match(entry, gateway)
        if note:
            notes.append(f"{variable} entry {note}")
        if matches and bypass is None:
            bypass = f"{variable} entry {entry!r} matches {gateway.host}"
    return bypass, notes
