"""Proxies: which one applies to a gateway, and where it came from.

Proxy URLs are shown with their passwords hidden; the real URL is kept only for
connecting.
"""

from __future__ import annotations

import contextlib
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
    """Return why the app's HTTP client cannot use ``url`` as a proxy, or None."""
    from app.core.http import proxy_problem  # noqa: PLC0415 - imports httpx

    found = proxy_problem(url)
    return None if found is None else mask_proxy_url(found[0])


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


def _no_proxy_note(entry: str, gateway: GatewayUrl) -> str | None:
    """Explain a NO_PROXY entry that cannot mean what it seems to, or None.

    Whether an entry matches is left to the HTTP client's own routing; this
    only puts into words why some entries match less than people expect.
    """
    if "://" in entry:
        try:
            urllib.parse.urlsplit(entry).port  # noqa: B018 - parsing is the check
        except ValueError:
            return f"{entry!r} has an invalid port and matches nothing"
        return None
    address_part = entry.split("/", 1)[0]
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(address_part.strip("[]"))
        if "/" in entry:
            return (
                f"{entry!r}: address ranges are not understood; it matches only "
                f"{address_part}"
            )
        return None
    name, _, port_text = entry.partition(":")
    if not re.fullmatch(r"[a-z0-9*._-]+", name.lower()) or (
        port_text and not port_text.isdigit()
    ):
        return f"{entry!r} is not a host name and matches nothing"
    if name.startswith("*"):
        return (
            f"{entry!r}: wildcards are not understood and it matches nothing; write "
            f"{name.lstrip('*')!r} instead"
        )
    if port_text and gateway.port is None:
        return (
            f"{entry!r} names a port, and matches only gateway URLs that spell "
            "that port out"
        )
    return None


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
    ignored = [
        f"{found[key][0]}={mask_proxy_url(found[key][1])!r} ({problem})"
        for key in ("http", "https", "all")
        if key in found
        and (problem := _proxy_problem(_with_scheme(found[key][1]))) is not None
        and "SOCKS" not in problem
    ]
    notes = [*ignored, *_no_proxy_notes(found, gateway)]
    route = _route(gateway, settings, found)
    if route.problem is not None:
        return ProxyFacts(
            None, "the environment", route.problem, tuple(notes), route.problem
        )
    if route.variable is not None and route.proxy is not None:
        shown = mask_proxy_url(route.proxy)
        where = route.variable
        if not where.startswith("the "):
            where = f"the environment variable {where}"
        return ProxyFacts(
            shown,
            where,
            f"Through the proxy {shown}, from {where}.",
            ignored=tuple(notes),
            proxy_url=route.proxy,
        )
    if route.bypass is not None:
        otherwise = ""
        if route.otherwise is not None:
            variable, proxy = route.otherwise
            otherwise = (
                f" (otherwise {variable} would send it through {mask_proxy_url(proxy)})"
            )
        return ProxyFacts(
            None,
            "none (NO_PROXY)",
            f"No proxy: {route.bypass}, so it connects directly{otherwise}.",
            ignored=tuple(notes),
        )
    if ignored:
        return ProxyFacts(
            None,
            "none (the proxy variables are ignored)",
            "No proxy: connects directly; these proxy values are ignored because "
            "they are malformed: " + "; ".join(ignored) + ".",
            ignored=tuple(notes),
        )
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


def _with_scheme(value: str) -> str:
    return value if "://" in value else f"http://{value}"


@dataclass(frozen=True)
class _Route:
    """Where the app's HTTP client sends a gateway's requests, and why."""

    proxy: str | None = None
    variable: str | None = None
    bypass: str | None = None
    otherwise: tuple[str, str] | None = None
    problem: str | None = None


def _route(
    gateway: GatewayUrl, settings: ClientSettings, found: Mapping[str, tuple[str, str]]
) -> _Route:
    """Ask the HTTP client's own routing which proxy applies to ``gateway``."""
    from app.core import http  # noqa: PLC0415 - imports httpx

    mounts, origins = _as_httpx_reads(found)
    if "no" in found and any(
        entry.strip() == "*" for entry in found["no"][1].split(",")
    ):
        return _Route(
            bypass=f"{found['no'][0]} is '*'",
            otherwise=_without_no_proxy(gateway, settings, found),
        )
    routes = http.proxy_routes(settings, mounts, origins.__getitem__)
    pattern = http.matching_pattern(gateway.queue_url, routes)
    if pattern is None:
        return _Route()
    if pattern in routes.unusable:
        return _Route(problem=routes.unusable[pattern])
    proxy = routes.mounts[pattern]
    if proxy is not None:
        return _Route(proxy=proxy, variable=origins[pattern])
    # The routes add a twin of each name with the DNS root's final dot
    # ("gw.example.com."); it stands for the entry it was made from.
    entry = origins.get(pattern) or origins.get(pattern.replace(".:", ":").rstrip("."))
    return _Route(
        bypass=f"{found['no'][0]} entry {entry!r} matches {gateway.host}",
        otherwise=_without_no_proxy(gateway, settings, found),
    )


def _without_no_proxy(
    gateway: GatewayUrl, settings: ClientSettings, found: Mapping[str, tuple[str, str]]
) -> tuple[str, str] | None:
    """Return the variable and proxy that would apply without ``NO_PROXY``."""
    rest = {key: value for key, value in found.items() if key != "no"}
    route = _route(gateway, settings, rest)
    if route.proxy is None or route.variable is None:
        return None
    return route.variable, route.proxy


def _as_httpx_reads(
    found: Mapping[str, tuple[str, str]],
) -> tuple[dict[str, str | None], dict[str, str]]:
    """Return the proxy map httpx makes of ``found``, and where each entry is from.

    This is httpx's ``get_environment_proxies`` applied to values read from
    another environment; a test holds the two to the same answers.
    """
    from httpx._utils import is_ipv4_hostname, is_ipv6_hostname  # noqa: PLC0415

    mounts: dict[str, str | None] = {}
    origins: dict[str, str] = {}
    for scheme in ("http", "https", "all"):
        if found.get(scheme, ("", ""))[1]:
            variable, value = found[scheme]
            mounts[f"{scheme}://"] = _with_scheme(value)
            origins[f"{scheme}://"] = variable
    for raw in found.get("no", ("", ""))[1].split(","):
        entry = raw.strip()
        if entry == "*":
            return {}, {}
        if not entry:
            continue
        if "://" in entry:
            key = entry
        elif is_ipv4_hostname(entry) or entry.lower() == "localhost":
            key = f"all://{entry}"
        elif is_ipv6_hostname(entry):
            key = f"all://[{entry}]"
        else:
            key = f"all://*{entry}"
        mounts[key] = None
        origins[key] = entry
    return mounts, origins


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


def _no_proxy_notes(
    found: Mapping[str, tuple[str, str]], gateway: GatewayUrl
) -> list[str]:
    """Return notes on ``NO_PROXY`` entries that cannot mean what they seem to."""
    notes: list[str] = []
    if "no" not in found:
        return notes
    variable, value = found["no"]
    for raw in value.split(","):
        entry = raw.strip()
        if entry and entry != "*":
            note = _no_proxy_note(entry, gateway)
            if note:
                notes.append(f"{variable} entry {note}")
    return notes
