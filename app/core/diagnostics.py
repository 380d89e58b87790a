"""Diagnostics for support: status facts, a connectivity doctor, curl, a bundle.

Everything here answers "why do this person's runs fail?" with facts a person
can act on, and never with the token: tokens are described by length and
fingerprint, proxies without their passwords, and every text that leaves the
machine in a bundle passes through the :class:`~app.core.redact.Redactor` after
it has learnt every stored token.

The doctor never sends a run. It resolves, connects, shakes hands and sends one
``GET`` to the gateway's base URL without an ``Authorization`` header.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import ipaddress
import json
import logging
import os
import platform
import re
import shlex
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from app import __version__
from app.core.errors import InputError, KeyringError, PlanRunnerError, SetupError
from app.core.exchange import ClientSettings, authorization_header, for_gateway
from app.core.outcome import text_excerpt
from app.core.paths import AppPaths
from app.core.redact import REDACTED, Redactor
from app.core.runner import RunRequest
from app.core.settings import Profile
from app.core.tokens import (
    TokenFacts,
    clean_token,
    fingerprint,
    humanize_seconds,
    token_facts,
)
from app.core.urls import GatewayUrl, parse_gateway_url
from app.core.workspace import Workspace

# httpx (and app.core.http) are imported by the functions that send, so that the
# status panel and `plan-runner status` start without them.
if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "PLAN_RUNNER_TOKEN"  # noqa: S105 - a variable name, not a secret
EXPIRES_SOON = timedelta(minutes=10)
CERTIFICATE_EXPIRES_SOON = timedelta(days=14)
DOCTOR_TIMEOUT = 5.0
BUNDLE_HISTORY_ROWS = 50
BUNDLE_LOG_BYTES = 200 * 1024
_HTTP_PEEK_BYTES = 4096


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------
# Problems and verdicts of a status report


class Area(StrEnum):
    """What a problem is about; it decides the exit code of a script."""

    TOKEN = "token"  # noqa: S105 - a category name
    SETUP = "setup"
    CONFIG = "config"


@dataclass(frozen=True)
class Problem:
    """One thing found wrong, with what to do about it.

    Attributes:
        area: See :class:`Area`.
        severity: ``error`` (runs fail) or ``warning`` (runs may fail).
        message: What is wrong.
        remedy: What to do, in plain words.
    """

    area: Area
    severity: str
    message: str
    remedy: str = ""

    def as_dict(self) -> dict[str, str]:
        """Return the problem as plain data."""
        return {
            "area": self.area.value,
            "severity": self.severity,
            "message": self.message,
            "remedy": self.remedy,
        }


EXIT_OK = 0
EXIT_TOKEN = 3
EXIT_NETWORK = 6
EXIT_SETUP = 8


def status_exit_code(report: Mapping[str, Any]) -> int:
    """Return the exit code of a status report for scripts.

    0 all good (warnings allowed), 3 a token problem (missing, expired,
    unreadable), 8 a setup problem (no profile, no keyring, bad URL, bad proxy
    or CA file). A setup problem wins over a token problem.
    """
    errors = [p for p in report.get("problems", []) if p.get("severity") == "error"]
    if any(p.get("area") == Area.SETUP.value for p in errors):
        return EXIT_SETUP
    if any(p.get("area") == Area.TOKEN.value for p in errors):
        return EXIT_TOKEN
    return EXIT_OK


def _verdict(problems: Sequence[Problem]) -> str:
    errors = [p for p in problems if p.severity == "error"]
    if any(p.area is Area.SETUP for p in errors):
        return "setup problem"
    if any(p.area is Area.TOKEN for p in errors):
        return "token problem"
    if problems:
        return "ok, with warnings"
    return "ok"


# --------------------------------------------------------------------------
# Proxies: which one applies to a gateway, and where it came from

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


def _extra_ca_source(workspace: Workspace, profile: Profile) -> str | None:
    policy, settings = workspace.policy, workspace.settings
    if policy.is_locked("extra_ca_file") and policy.extra_ca_file:
        return "the machine policy (locked by IT)"
    if profile.extra_ca_file:
        return f"the setting of profile {profile.name!r}"
    if policy.extra_ca_file:
        return "the machine policy"
    if settings.extra_ca_file:
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


# --------------------------------------------------------------------------
# Certificates: read without any library beyond the standard one

_NAME_ATTRIBUTES = {
    "2.5.4.3": "CN",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.5": "serialNumber",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
}
_SUBJECT_ALT_NAME = "2.5.29.17"


@dataclass(frozen=True)
class CertificateFacts:
    """What a server certificate says about itself.

    Attributes:
        subject, issuer: ``(attribute, value)`` pairs, e.g. ``("CN", "gw")``.
        not_before, not_after: The validity period (UTC).
        alt_names: Subject alternative names: ``DNS:name`` or ``IP:address``.
        sha256: The certificate's SHA-256 fingerprint.
    """

    subject: tuple[tuple[str, str], ...]
    issuer: tuple[tuple[str, str], ...]
    not_before: datetime | None
    not_after: datetime | None
    alt_names: tuple[str, ...]
    sha256: str

    @property
    def subject_name(self) -> str:
        """The subject's most telling name."""
        return _display_name(self.subject)

    @property
    def issuer_name(self) -> str:
        """The issuer's most telling name."""
        return _display_name(self.issuer)

    @property
    def self_signed(self) -> bool:
        """Whether the certificate names itself as its issuer."""
        return self.subject == self.issuer

    def as_dict(self, now: datetime) -> dict[str, object]:
        """Return the facts as plain data."""
        return {
            "subject": _distinguished_name(self.subject),
            "issuer": _distinguished_name(self.issuer),
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "validity": self.validity_words(now),
            "alt_names": list(self.alt_names),
            "self_signed": self.self_signed,
            "sha256": self.sha256,
        }

    def validity_words(self, now: datetime) -> str:
        """Say until when the certificate is valid, relative to ``now``."""
        if self.not_after is None:
            return "validity unknown"
        delta = (self.not_after - now).total_seconds()
        day = self.not_after.strftime("%Y-%m-%d")
        if delta <= 0:
            return f"expired on {day} ({humanize_seconds(delta)} ago)"
        if self.not_before is not None and self.not_before > now:
            return f"not valid before {self.not_before:%Y-%m-%d}"
        if delta > 90 * 24 * 3600:
            return f"valid until {day}"
        return f"valid until {day} ({humanize_seconds(delta)} from now)"


def _display_name(name: tuple[tuple[str, str], ...]) -> str:
    for wanted in ("CN", "O", "OU"):
        for key, value in name:
            if key == wanted:
                return value
    return _distinguished_name(name) or "(no name)"


def _distinguished_name(name: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{key}={value}" for key, value in name)


def parse_certificate(der: bytes) -> CertificateFacts:
    """Read the facts of a DER-encoded X.509 certificate.

    Raises:
        ValueError: The bytes are not a certificate this reader understands.
    """
    try:
        return _parse_certificate(der)
    except (IndexError, ValueError, UnicodeError) as error:
        raise ValueError(f"not a readable certificate ({error})") from None


def _parse_certificate(der: bytes) -> CertificateFacts:
    _, start, _ = _element(der, 0)
    tbs_tag, tbs_start, tbs_end = _element(der, start)
    if tbs_tag != 0x30:
        raise ValueError("no certificate body")
    fields = _children(der, tbs_start, tbs_end)
    if fields and fields[0][0] == 0xA0:  # the explicit version
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
    _, issuer, validity, subject = fields[0], fields[2], fields[3], fields[4]
    times = _children(der, validity[1], validity[2])
    alt_names: tuple[str, ...] = ()
    for tag, ext_start, ext_end in fields[6:]:
        if tag == 0xA3:
            alt_names = _alt_names(der, ext_start, ext_end)
    return CertificateFacts(
        subject=_name(der, subject),
        issuer=_name(der, issuer),
        not_before=_time(der, times[0]),
        not_after=_time(der, times[1]),
        alt_names=alt_names,
        sha256=hashlib.sha256(der).hexdigest(),
    )


def _element(data: bytes, pos: int) -> tuple[int, int, int]:
    """Return the tag, content start and content end of the element at ``pos``."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4:
            raise ValueError("unsupported length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise ValueError("truncated")
    return tag, pos, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items = []
    pos = start
    while pos < end:
        item = _element(data, pos)
        items.append(item)
        pos = item[2]
    return items


def _oid(raw: bytes) -> str:
    first = min(raw[0] // 40, 2)
    parts = [first, raw[0] - 40 * first]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(part) for part in parts)


_STRING_CODECS = {
    0x0C: "utf-8",
    0x12: "ascii",
    0x13: "ascii",
    0x14: "latin-1",
    0x16: "ascii",
    0x1A: "ascii",
    0x1C: "utf-32-be",
    0x1E: "utf-16-be",
}


def _string(tag: int, raw: bytes) -> str:
    return raw.decode(_STRING_CODECS.get(tag, "utf-8"), errors="replace")


def _name(data: bytes, element: tuple[int, int, int]) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for _, set_start, set_end in _children(data, element[1], element[2]):
        for _, pair_start, pair_end in _children(data, set_start, set_end):
            (_, oid_start, oid_end), (value_tag, value_start, value_end) = _children(
                data, pair_start, pair_end
            )[:2]
            oid = _oid(data[oid_start:oid_end])
            key = _NAME_ATTRIBUTES.get(oid, oid)
            pairs.append((key, _string(value_tag, data[value_start:value_end])))
    return tuple(pairs)


def _time(data: bytes, element: tuple[int, int, int]) -> datetime | None:
    tag, start, end = element
    text = data[start:end].decode("ascii")
    formats = {0x17: "%y%m%d%H%M%SZ", 0x18: "%Y%m%d%H%M%SZ"}
    if tag not in formats:
        return None
    try:
        return datetime.strptime(text, formats[tag]).replace(tzinfo=UTC)
    except ValueError:
        return None


def _alt_names(data: bytes, start: int, end: int) -> tuple[str, ...]:
    (_, seq_start, seq_end) = _element(data, start)
    for _, ext_start, ext_end in _children(data, seq_start, seq_end):
        parts = _children(data, ext_start, ext_end)
        if _oid(data[parts[0][1] : parts[0][2]]) != _SUBJECT_ALT_NAME:
            continue
        _, value_start, _ = parts[-1]
        _, names_start, names_end = _element(data, value_start)
        names: list[str] = []
        for tag, name_start, name_end in _children(data, names_start, names_end):
            raw = data[name_start:name_end]
            if tag == 0x82:
                names.append(f"DNS:{raw.decode('ascii', errors='replace')}")
            elif tag == 0x87 and len(raw) in (4, 16):
                names.append(f"IP:{ipaddress.ip_address(raw)}")
            elif tag == 0x86:
                names.append(f"URI:{raw.decode('ascii', errors='replace')}")
        return tuple(names)
    return ()


# --------------------------------------------------------------------------
# Status: the facts of a profile, without a single character of its token


def default_profile_name(workspace: Workspace) -> str | None:
    """Return the profile used when none is named: the last one, or the only one."""
    names = [profile.name for profile in workspace.profiles()]
    if workspace.settings.last_profile in names:
        return workspace.settings.last_profile
    return names[0] if len(names) == 1 else None


def status_report(
    workspace: Workspace,
    profile_name: str | None,
    now: datetime,
    *,
    gateway_url: str | None = None,
    environment_token: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return the facts of a profile (or an ad-hoc gateway) and what is wrong.

    Args:
        workspace: The profiles, secrets and policy.
        profile_name: The profile to describe; None when there is none.
        now: The current time (UTC), for expiry in words.
        gateway_url: An ad-hoc gateway URL instead of a profile's.
        environment_token: A token that overrides the stored one (the
            ``PLAN_RUNNER_TOKEN`` of the command line).
        environ: The environment for proxy variables (default: the process's).

    Returns:
        Plain JSON-ready data: ``profile``, ``gateway``, ``token``, ``keyring``,
        ``proxy``, ``tls``, ``problems``, ``verdict`` and ``exit_code``.
    """
    problems: list[Problem] = [
        Problem(Area.CONFIG, "warning", text, "Fix or remove the file named.")
        for text in workspace.problems
    ]
    keyring = _keyring_facts(workspace, problems)

    profile: Profile | None = None
    if profile_name is not None:
        try:
            profile = workspace.profile(profile_name)
        except InputError as error:
            problems.append(
                Problem(
                    Area.SETUP,
                    "error",
                    str(error),
                    "Name an existing profile, or add one: "
                    "plan-runner profile add NAME --gateway URL",
                )
            )
    elif gateway_url is None:
        names = [p.name for p in workspace.profiles()]
        problems.append(
            Problem(
                Area.SETUP,
                "error",
                "No profile is chosen"
                + (f" (profiles: {', '.join(names)})." if names else "; none exists."),
                "Choose one with --profile NAME, or add one: "
                "plan-runner profile add NAME --gateway URL",
            )
        )

    stored_token: str | None = None
    stored_url: str | None = gateway_url
    keyring_read = True
    if profile is not None:
        try:
            connection = workspace.connection(profile.name)
        except KeyringError as error:
            keyring_read = False
            problems.append(
                Problem(
                    Area.SETUP,
                    "error",
                    f"The keyring could not be read: {error}",
                    "Unlock the keyring (log in to the desktop session) and check "
                    "again.",
                )
            )
        else:
            stored_token, stored_url = connection.token, connection.gateway_url

    gateway = _gateway_facts(profile, stored_url, keyring_read, problems)
    parsed = _parsed(gateway)
    settings = (
        workspace.client_settings(profile) if profile is not None else ClientSettings()
    )
    token = _token_facts(
        profile=profile,
        stored=stored_token,
        override=environment_token,
        backend=workspace.secrets.backend_name,
        gateway=parsed,
        now=now,
        keyring_read=keyring_read,
        problems=problems,
    )

    if parsed is not None:
        proxy = effective_proxy(
            parsed,
            for_gateway(settings, parsed),
            source=proxy_source(workspace, profile) if profile else None,
            environ=environ,
        )
        if proxy.problem:
            problems.append(
                Problem(
                    Area.SETUP,
                    "error",
                    proxy.problem,
                    f"Fix or remove the proxy in {proxy.source}.",
                )
            )
        for note in proxy.ignored:
            problems.append(
                Problem(
                    Area.CONFIG,
                    "warning",
                    f"Proxy setting not understood: {note}.",
                    "Fix the value, or remove it if no proxy is needed.",
                )
            )
        proxy_dict = proxy.as_dict()
    else:
        proxy_dict = {
            "url": None,
            "source": "unknown",
            "detail": "Unknown: there is no usable gateway URL to check it for.",
            "ignored": [],
            "problem": None,
        }

    tls = _tls_facts(workspace, profile, settings, problems)
    report: dict[str, Any] = {
        "profile": profile.name if profile is not None else None,
        "checked_at": now.isoformat(timespec="seconds"),
        "gateway": gateway,
        "token": token,
        "keyring": keyring,
        "proxy": proxy_dict,
        "tls": tls,
        "problems": [problem.as_dict() for problem in problems],
        "verdict": _verdict(problems),
    }
    report["exit_code"] = status_exit_code(report)
    return report


def _keyring_facts(workspace: Workspace, problems: list[Problem]) -> dict[str, Any]:
    store = workspace.secrets
    reason = getattr(store, "reason", None)
    if not store.persistent:
        problems.append(
            Problem(
                Area.SETUP,
                "error",
                "No keyring is usable, so tokens are kept for this session only"
                + (f": {reason}" if reason else "."),
                "On Linux, start GNOME Keyring or KWallet in the desktop session; on "
                "Windows and macOS, sign in to the desktop normally. For one-off "
                f"command-line runs, {TOKEN_VARIABLE} can hold the token.",
            )
        )
    return {
        "backend": store.backend_name,
        "persistent": store.persistent,
        "problem": reason if not store.persistent else None,
    }


def _gateway_facts(
    profile: Profile | None,
    url: str | None,
    keyring_read: bool,
    problems: list[Problem],
) -> dict[str, Any] | None:
    if url is None:
        if profile is not None and keyring_read:
            problems.append(
                Problem(
                    Area.SETUP,
                    "error",
                    f"Profile {profile.name!r} has no gateway URL.",
                    f"Set one in Settings, or: plan-runner profile add {profile.name} "
                    "--gateway URL",
                )
            )
        return None
    try:
        gateway = parse_gateway_url(url)
    except InputError as error:
        problems.append(
            Problem(
                Area.SETUP,
                "error",
                f"The gateway URL is not valid: {error}",
                "Correct the gateway URL in the profile's settings.",
            )
        )
        return {"url": url, "queue_url": None, "problem": str(error)}
    allowed = profile is not None and profile.allow_plain_http
    if gateway.is_plain_http and not gateway.is_loopback and not allowed:
        problems.append(
            Problem(
                Area.SETUP,
                "error",
                f"The gateway URL is plain http:// on another machine "
                f"({gateway.host}): runs are refused, so the token never travels "
                "unencrypted.",
                "Use the gateway's https:// address, or allow plain http in the "
                "profile if this is a test gateway on a network you trust.",
            )
        )
    return {
        "url": gateway.base,
        "queue_url": gateway.queue_url,
        "scheme": gateway.scheme,
        "host": gateway.host,
        "port": gateway.port,
        "loopback": gateway.is_loopback,
        "plain_http": gateway.is_plain_http,
        "problem": None,
    }


def _parsed(gateway: Mapping[str, Any] | None) -> GatewayUrl | None:
    if gateway is None or gateway.get("problem"):
        return None
    return parse_gateway_url(str(gateway["url"]))


def _token_facts(
    *,
    profile: Profile | None,
    stored: str | None,
    override: str | None,
    backend: str,
    gateway: GatewayUrl | None,
    now: datetime,
    keyring_read: bool,
    problems: list[Problem],
) -> dict[str, Any]:
    token = override or stored
    where = f"profile {profile.name!r}" if profile is not None else "this gateway"
    set_it = (
        f"plan-runner token set --profile {profile.name}  (or Settings in the app)"
        if profile is not None
        else f"set {TOKEN_VARIABLE}"
    )
    facts: dict[str, Any] = {
        "stored": bool(stored),
        "source": (
            f"the environment variable {TOKEN_VARIABLE} (overrides the keyring)"
            if override
            else (backend if stored else None)
        ),
        "backend": backend,
    }
    if token is None:
        if keyring_read and (profile is not None or gateway is not None):
            problems.append(
                Problem(
                    Area.TOKEN,
                    "error",
                    f"No token is stored for {where}.",
                    f"Get a token for the gateway and set it: {set_it}",
                )
            )
        return facts

    try:
        if clean_token(token) != token:
            problems.append(
                Problem(
                    Area.TOKEN,
                    "error",
                    f"The token of {where} has extra text around it (spaces, quotes "
                    "or a 'Bearer' prefix), so the gateway cannot read it.",
                    f"Set the token again; Plan Runner cleans what is pasted: {set_it}",
                )
            )
    except InputError as error:
        problems.append(
            Problem(
                Area.TOKEN,
                "error",
                f"The token of {where} is mangled: {error}",
                f"Copy the token again and set it: {set_it}",
            )
        )
    described = token_facts(token)
    facts.update(described.as_dict(now))
    facts["issued"] = (
        None
        if described.issued_at is None
        else _relative("issued", described.issued_at, now)
    )
    host = gateway.host if gateway is not None else "the gateway"
    problems.extend(
        _token_problems(described, gateway, now, where=where, host=host, fix=set_it)
    )
    return facts


def _token_problems(
    facts: TokenFacts,
    gateway: GatewayUrl | None,
    now: datetime,
    *,
    where: str,
    host: str,
    fix: str,
) -> list[Problem]:
    found: list[Problem] = []
    if facts.problem:
        found.append(
            Problem(
                Area.TOKEN,
                "error",
                f"The token of {where} {facts.problem}: it was probably cut off or "
                "changed while copying.",
                f"Copy the whole token again and set it: {fix}",
            )
        )
    if facts.expires_at is not None and facts.is_expired(now):
        found.append(
            Problem(
                Area.TOKEN,
                "error",
                f"The token of {where} {facts.expiry_words(now)} "
                f"({facts.expires_at:%Y-%m-%d %H:%M} UTC).",
                f"Get a new token for {host} and set it: {fix}",
            )
        )
    elif facts.expires_at is not None and facts.expires_at - now < EXPIRES_SOON:
        found.append(
            Problem(
                Area.TOKEN,
                "warning",
                f"The token of {where} {facts.expiry_words(now)}.",
                f"Get a new token for {host} soon: {fix}",
            )
        )
    ahead = (facts.issued_at - now).total_seconds() if facts.issued_at else 0.0
    if ahead > 300:
        found.append(
            Problem(
                Area.TOKEN,
                "warning",
                f"The token was issued {humanize_seconds(ahead)} in the future: this "
                "computer's clock may be wrong.",
                "Check the computer's date, time and time zone.",
            )
        )
    mismatch = _audience_mismatch(facts.audience, gateway)
    if mismatch:
        found.append(
            Problem(
                Area.TOKEN,
                "warning",
                mismatch,
                f"Get a token for {host} (not for another environment) and set it: "
                f"{fix}",
            )
        )
    return found


def _relative(verb: str, when: datetime, now: datetime) -> str:
    delta = (now - when).total_seconds()
    if delta >= 0:
        return f"{verb} {humanize_seconds(delta)} ago"
    return f"{verb} in {humanize_seconds(delta)}"


def _audience_mismatch(audience: str | None, gateway: GatewayUrl | None) -> str | None:
    """Say when the token's audience names another host than the gateway."""
    if not audience or gateway is None:
        return None
    hosts = []
    for item in audience.split(","):
        entry = item.strip().lower()
        if "://" in entry:
            with contextlib.suppress(ValueError):
                hosts.append(urllib.parse.urlsplit(entry).hostname or "")
        elif re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", entry):
            hosts.append(entry)
    hosts = [host for host in hosts if host]
    if not hosts:
        return None
    gateway_host = gateway.host
    for host in hosts:
        if host == gateway_host or gateway_host.endswith("." + host):
            return None
    return (
        f"The token is meant for {', '.join(hosts)} (its audience), but the gateway "
        f"is {gateway_host}: it may be a token of another environment."
    )


def _tls_facts(
    workspace: Workspace,
    profile: Profile | None,
    settings: ClientSettings,
    problems: list[Problem],
) -> dict[str, Any]:
    from app.core.http import tls_context  # noqa: PLC0415

    extra = settings.extra_ca_file
    if extra is None:
        return {
            "mode": "OS trust store",
            "extra_ca_file": None,
            "extra_ca_source": None,
            "extra_ca_readable": None,
            "problem": None,
        }
    source = _extra_ca_source(workspace, profile) if profile is not None else None
    readable = extra.is_file() and os.access(extra, os.R_OK)
    problem: str | None = None
    try:
        tls_context(extra)
    except SetupError as error:
        problem = str(error)
        problems.append(
            Problem(
                Area.SETUP,
                "error",
                problem,
                "Point the extra CA file at a readable PEM file of the company's CA "
                f"certificate{f' (in {source})' if source else ''}, or ask IT.",
            )
        )
    return {
        "mode": "OS trust store + extra CA file",
        "extra_ca_file": str(extra),
        "extra_ca_source": source,
        "extra_ca_readable": readable,
        "problem": problem,
    }


# --------------------------------------------------------------------------
# The connectivity doctor


class Verdict(StrEnum):
    """How one doctor step went."""

    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class DoctorStep:
    """One step of the doctor.

    Attributes:
        name: ``DNS``, ``Proxy``, ``TCP connect``, ``TLS handshake`` or ``HTTP``.
        verdict: See :class:`Verdict`.
        detail: What was found, in a sentence or two.
        remedy: What to do about it, in plain words (empty when all is well).
        facts: Plain data behind the detail (addresses, timings, certificate).
        setup: A failure caused by the local setup rather than the network.
    """

    name: str
    verdict: Verdict
    detail: str
    remedy: str = ""
    facts: Mapping[str, object] = field(default_factory=dict)
    setup: bool = False

    def to_dict(self) -> dict[str, object]:
        """Return the step as plain data."""
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "detail": self.detail,
            "remedy": self.remedy,
            "facts": dict(self.facts),
            "setup": self.setup,
        }


def doctor_exit_code(steps: Sequence[DoctorStep]) -> int:
    """Return 0 when no step failed, 8 for a setup failure, 6 for the network."""
    failed = [step for step in steps if step.verdict is Verdict.FAILED]
    if any(step.setup for step in failed):
        return EXIT_SETUP
    return EXIT_NETWORK if failed else EXIT_OK


def run_doctor(
    gateway_url: GatewayUrl | str,
    client_settings: ClientSettings,
    *,
    timeout: float = DOCTOR_TIMEOUT,
    proxy_source: str | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> list[DoctorStep]:
    """Check, step by step, whether this machine can reach the gateway.

    The steps are DNS, proxy, TCP connect, TLS handshake (https only) and an
    HTTP ``GET`` of the gateway's base URL without the token. A step after a
    failed one is skipped with the reason. No run is sent, and each step is
    bounded by ``timeout`` seconds. A gateway on this machine is reached
    directly, whatever proxy the settings or the environment name, as runs reach
    it (see :func:`~app.core.exchange.for_gateway`).

    Raises:
        InputError: ``gateway_url`` is a string that is not a gateway URL.
    """
    gateway = (
        gateway_url
        if isinstance(gateway_url, GatewayUrl)
        else parse_gateway_url(gateway_url)
    )
    timeout = min(max(timeout, 0.5), 60.0)
    # The rule of runs and status: a gateway on this machine is reached directly.
    # Every later step (the proxy facts, the tunnel, the HTTP client) follows
    # these settings, so none of them can go through a proxy for it.
    client_settings = for_gateway(client_settings, gateway)
    proxy = effective_proxy(gateway, client_settings, source=proxy_source)
    if gateway.is_loopback:
        proxy = dataclasses.replace(
            proxy,
            source="none (the gateway is on this machine)",
            detail="No proxy: connects directly, because the gateway is on this "
            "machine (a proxy is never used for it).",
        )
    doctor = _Doctor(gateway, client_settings, proxy, timeout, clock)
    checks: list[tuple[str, Callable[[], DoctorStep]]] = [
        ("DNS", doctor.dns),
        ("Proxy", doctor.proxy),
        ("TCP connect", doctor.tcp),
        ("TLS handshake", doctor.tls),
        ("HTTP", doctor.http),
    ]
    steps: list[DoctorStep] = []
    blocked: str | None = None
    for name, check in checks:
        if blocked is not None:
            steps.append(
                DoctorStep(
                    name,
                    Verdict.SKIPPED,
                    f"Skipped: the {blocked} step failed.",
                )
            )
            continue
        try:
            step = check()
        except Exception as error:  # the doctor reports, never crashes
            log.exception("Doctor step %s failed unexpectedly", name)
            step = DoctorStep(
                name,
                Verdict.FAILED,
                f"The check itself failed unexpectedly ({type(error).__name__}).",
                "Send the diagnostic bundle to support; the log has the details.",
            )
        steps.append(step)
        if step.verdict is Verdict.FAILED:
            blocked = name
    log.info(
        "Doctor for %s: %s",
        gateway.base,
        ", ".join(f"{step.name} {step.verdict.value}" for step in steps),
    )
    return steps


def _default_port(scheme: str) -> int:
    return {"https": 443, "http": 80, "socks5": 1080, "socks5h": 1080}.get(scheme, 80)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int, timeout: float) -> tuple[list[str], str | None]:
    """Resolve ``host`` within ``timeout``; return addresses or why not.

    ``getaddrinfo`` has no timeout of its own, so it runs on a daemon thread that
    is abandoned (and ends by itself) when the lookup takes too long.
    """
    result: dict[str, Any] = {}

    def lookup() -> None:
        try:
            result["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            result["error"] = error

    worker = threading.Thread(target=lookup, name="doctor-dns", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return [], f"no answer within {timeout:g} s"
    if "error" in result:
        error = result["error"]
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        return [], str(reason)
    addresses: list[str] = []
    for info in result["infos"]:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses, None


class _Doctor:
    """The steps of :func:`run_doctor`, sharing what earlier steps found."""

    def __init__(
        self,
        gateway: GatewayUrl,
        settings: ClientSettings,
        proxy: ProxyFacts,
        timeout: float,
        clock: Callable[[], datetime],
    ) -> None:
        import httpx  # noqa: PLC0415

        self.gateway = gateway
        self.settings = settings
        self.proxy_facts = proxy
        self.timeout = timeout
        self.clock = clock
        self.port = gateway.port or _default_port(gateway.scheme)
        self.addresses: list[str] = []
        self.target: tuple[str, int] = (gateway.host, self.port)
        self.via_proxy = proxy.proxy_url is not None and proxy.problem is None
        if self.via_proxy and proxy.proxy_url is not None:
            proxy_url = httpx.URL(proxy.proxy_url)
            self.target = (
                proxy_url.host,
                proxy_url.port or _default_port(proxy_url.scheme),
            )
        self.connected_address: str | None = None

    # DNS ---------------------------------------------------------------

    def dns(self) -> DoctorStep:
        host = self.gateway.host
        if _is_address(host):
            self.addresses = [host]
            return DoctorStep(
                "DNS",
                Verdict.OK,
                f"{host} is an IP address: no lookup needed.",
                facts={"addresses": [host]},
            )
        started = time.monotonic()
        addresses, error = _resolve(host, self.port, self.timeout)
        elapsed = _ms(started)
        if error is None:
            self.addresses = addresses
            return DoctorStep(
                "DNS",
                Verdict.OK,
                f"{host} resolves to {', '.join(addresses)} ({elapsed:g} ms).",
                facts={"addresses": addresses, "ms": elapsed},
            )
        text = f"This computer cannot find {host} ({error})."
        if self.via_proxy:
            return DoctorStep(
                "DNS",
                Verdict.WARNING,
                f"{text} A proxy applies, and it looks names up itself, so this may "
                "not matter.",
                "If the later steps fail too, check the gateway URL for typos.",
                facts={"error": error},
            )
        return DoctorStep(
            "DNS",
            Verdict.FAILED,
            f"{text} No proxy applies, so this computer must find it itself.",
            "Check the gateway URL for typos. If it is right, check the network or "
            "VPN connection: internal gateways are often known only inside the "
            "company network.",
            facts={"error": error},
        )

    # Proxy -------------------------------------------------------------

    def proxy(self) -> DoctorStep:
        facts = self.proxy_facts
        if facts.problem:
            return DoctorStep(
                "Proxy",
                Verdict.FAILED,
                facts.detail,
                f"Fix or remove the proxy in {facts.source}; ask IT for the right "
                "proxy address if one is needed.",
                facts=facts.as_dict(),
                setup=True,
            )
        if facts.ignored:
            return DoctorStep(
                "Proxy",
                Verdict.WARNING,
                facts.detail
                + (
                    "" if facts.url is None else " Ignored: " + "; ".join(facts.ignored)
                ),
                "Fix the values named, or remove them if no proxy is needed.",
                facts=facts.as_dict(),
            )
        return DoctorStep("Proxy", Verdict.OK, facts.detail, facts=facts.as_dict())

    # TCP ---------------------------------------------------------------

    def tcp(self) -> DoctorStep:
        host, port = self.target
        what = f"the proxy {host}:{port}" if self.via_proxy else f"{host}:{port}"
        try:
            sock, address, elapsed = self._connect()
        except _StepError as error:
            return DoctorStep("TCP connect", Verdict.FAILED, error.detail, error.remedy)
        sock.close()
        return DoctorStep(
            "TCP connect",
            Verdict.OK,
            f"Connected to {what}"
            + ("" if address == host else f" ({address})")
            + f" in {elapsed:g} ms.",
            facts={"host": host, "port": port, "address": address, "ms": elapsed},
        )

    def _connect(self) -> tuple[socket.socket, str, float]:
        """Open a TCP connection to the gateway or its proxy."""
        host, port = self.target
        what = f"the proxy {host}:{port}" if self.via_proxy else f"{host}:{port}"
        if self.via_proxy or not self.addresses:
            if _is_address(host):
                addresses: list[str] = [host]
            else:
                addresses, error = _resolve(host, port, self.timeout)
                if error is not None:
                    raise _StepError(
                        f"This computer cannot find the proxy host {host} ({error}).",
                        "Check the proxy address in the settings or the environment.",
                    )
        else:
            addresses = self.addresses
        errors: list[tuple[str, OSError]] = []
        for address in addresses[:4]:
            started = time.monotonic()
            try:
                sock = socket.create_connection((address, port), timeout=self.timeout)
            except OSError as error:
                errors.append((address, error))
                continue
            self.connected_address = address
            return sock, address, _ms(started)
        raise _StepError(*self._explain_connect(what, port, errors))

    def _explain_connect(
        self, what: str, port: int, errors: list[tuple[str, OSError]]
    ) -> tuple[str, str]:
        address, error = errors[-1]
        if isinstance(error, ConnectionRefusedError):
            detail = (
                f"{what} refused the connection: nothing is listening on port {port}."
            )
            remedy = (
                "The proxy is not running at that address: check the proxy setting."
                if self.via_proxy
                else "The gateway is down, or the port in the gateway URL is wrong. "
                "Check the URL; if it is right, tell the gateway's team."
            )
        elif isinstance(error, TimeoutError):
            detail = (
                f"No answer from {what} within {self.timeout:g} s: a firewall drops "
                "the connection, or the host is down."
            )
            remedy = (
                "Check the network or VPN connection. If other sites work, ask IT "
                "whether a firewall blocks this host and port."
            )
        else:
            reason = error.strerror or str(error) or type(error).__name__
            detail = f"Cannot connect to {what} ({address}): {reason}."
            remedy = "Check the network or VPN connection, then try again."
        return detail, remedy

    def _open_tunnel(self) -> socket.socket:
        """Connect to the gateway, through an http proxy's CONNECT if one applies."""
        import httpx  # noqa: PLC0415

        sock, _, _ = self._connect()
        if not self.via_proxy:
            return sock
        assert self.proxy_facts.proxy_url is not None  # noqa: S101 - via_proxy says so
        proxy_url = httpx.URL(self.proxy_facts.proxy_url)
        if proxy_url.scheme != "http":
            sock.close()
            raise _StepError(
                f"The doctor cannot look through a {proxy_url.scheme} proxy itself; "
                "the HTTP step below uses it as a run would.",
                "",
                skipped=True,
            )
        try:
            status, reason = _connect_through_proxy(
                sock, self.gateway.host, self.port, proxy_url, self.timeout
            )
        except OSError as error:
            sock.close()
            raise _StepError(
                f"The proxy {self.target[0]} did not open a tunnel to "
                f"{self.gateway.host}: {error}.",
                "Check the proxy setting, or ask IT whether the proxy is working.",
            ) from None
        if status != 200:
            sock.close()
            if status == 407:
                raise _StepError(
                    "The proxy asks for a user name and password (HTTP 407).",
                    "Put the credentials in the proxy URL "
                    "(http://user:password@proxy:port) or ask IT.",
                )
            raise _StepError(
                f"The proxy refused to connect to {self.gateway.host}:{self.port} "
                f"(HTTP {status} {reason}).",
                "Ask IT whether the proxy allows this host; if it should be reached "
                "directly, add it to NO_PROXY.",
            )
        return sock

    # TLS ---------------------------------------------------------------

    def tls(self) -> DoctorStep:
        from app.core.http import tls_context  # noqa: PLC0415

        gateway = self.gateway
        if gateway.scheme != "https":
            if gateway.is_loopback:
                return DoctorStep(
                    "TLS handshake",
                    Verdict.SKIPPED,
                    "The gateway URL is plain http:// on this computer: there is no "
                    "TLS to check.",
                )
            return DoctorStep(
                "TLS handshake",
                Verdict.WARNING,
                f"The gateway URL is plain http://: the token would travel "
                f"unencrypted to {gateway.host}, so runs are refused unless the "
                "profile allows plain http.",
                "Use the gateway's https:// address.",
            )
        extra = self.settings.extra_ca_file
        trust = "the OS trust store" + (
            f" plus the extra CA file {extra}" if extra else ""
        )
        try:
            context = tls_context(extra)
        except SetupError as error:
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                str(error),
                "Point the extra CA file at a readable PEM file of the company's CA "
                "certificate, or ask IT.",
                setup=True,
            )
        try:
            sock = self._open_tunnel()
        except _StepError as error:
            verdict = Verdict.SKIPPED if error.skipped else Verdict.FAILED
            return DoctorStep("TLS handshake", verdict, error.detail, error.remedy)
        started = time.monotonic()
        try:
            sock.settimeout(self.timeout)
            with context.wrap_socket(sock, server_hostname=gateway.host) as tls:
                der = tls.getpeercert(binary_form=True) or b""
                version = tls.version()
                elapsed = _ms(started)
        except ssl.SSLCertVerificationError as error:
            return self._untrusted(error, trust)
        except ssl.SSLError as error:
            return self._handshake_failed(error)
        except TimeoutError:
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The TLS handshake with {gateway.host} did not finish within "
                f"{self.timeout:g} s.",
                "A proxy or firewall may hold TLS connections; ask IT.",
            )
        except OSError as error:
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The connection closed during the TLS handshake with "
                f"{gateway.host} ({error.strerror or error}).",
                "A firewall or proxy may cut TLS connections to this host; ask IT.",
            )
        finally:
            sock.close()
        return self._trusted(der, version, elapsed, trust)

    def _trusted(
        self, der: bytes, version: str | None, elapsed: float, trust: str
    ) -> DoctorStep:
        now = self.clock()
        try:
            cert = parse_certificate(der)
        except ValueError as error:
            return DoctorStep(
                "TLS handshake",
                Verdict.OK,
                f"The certificate of {self.gateway.host} is trusted by {trust}, but "
                f"its details could not be read ({error}).",
                facts={"tls_version": version, "ms": elapsed},
            )
        facts = {**cert.as_dict(now), "tls_version": version, "ms": elapsed}
        detail = (
            f"The certificate of {self.gateway.host} is trusted by {trust}: "
            f"subject '{cert.subject_name}', issued by '{cert.issuer_name}', "
            f"{cert.validity_words(now)}; {version} in {elapsed:g} ms."
        )
        if cert.not_after is not None and cert.not_after - now < (
            CERTIFICATE_EXPIRES_SOON
        ):
            return DoctorStep(
                "TLS handshake",
                Verdict.WARNING,
                detail,
                "The certificate expires soon: tell the gateway's team.",
                facts=facts,
            )
        return DoctorStep("TLS handshake", Verdict.OK, detail, facts=facts)

    def _untrusted(self, error: ssl.SSLCertVerificationError, trust: str) -> DoctorStep:
        host = self.gateway.host
        now = self.clock()
        reason = str(error.verify_message or error.reason or error)
        cert = self._describe_untrusted()
        facts: dict[str, object] = {
            "verify_code": error.verify_code,
            "verify_message": reason,
            "trust": trust,
        }
        if cert is None:
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The certificate of {host} is not trusted by {trust}: {reason}.",
                "If your company inspects TLS, ask IT to install its CA certificate, "
                "or set the extra CA file in the profile's settings.",
                facts=facts,
            )
        facts["certificate"] = {
            **cert.as_dict(now),
            "note": "read without verification, only to describe it",
        }
        issuer = cert.issuer_name
        described = (
            f"subject '{cert.subject_name}', issued by '{issuer}', "
            f"{cert.validity_words(now)}"
        )
        code = error.verify_code
        if code == 62 or "mismatch" in reason.lower():
            names = ", ".join(cert.alt_names) or cert.subject_name
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The certificate presented at {host} is for {names}, not for {host} "
                f"({described}).",
                "Use the host name the certificate is for in the gateway URL, or tell "
                "the gateway's team that its certificate does not cover this name.",
                facts=facts,
            )
        if code == 10 or (cert.not_after is not None and cert.not_after <= now):
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The certificate of {host} has expired ({described}).",
                "Tell the gateway's team that their certificate expired; if the date "
                "looks wrong, check this computer's clock.",
                facts=facts,
            )
        if cert.self_signed:
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The certificate of {host} is self-signed ('{issuer}'), so {trust} "
                "cannot vouch for it.",
                "If this is a test gateway, get its certificate from the gateway's "
                "team and set it as the extra CA file in the profile, or ask IT to "
                "install it.",
                facts=facts,
            )
        extra = self.settings.extra_ca_file
        return DoctorStep(
            "TLS handshake",
            Verdict.FAILED,
            f"The certificate of {host} is issued by '{issuer}', not by a public CA "
            f"this computer trusts: if '{issuer}' is your company's, your company "
            f"inspects TLS traffic. (Certificate: {described}; checked against "
            f"{trust}.)",
            "Ask IT to install the company's CA certificate on this computer, or "
            + (
                "check that the extra CA file holds that CA."
                if extra
                else "save it as a PEM file and set it as the extra CA file in the "
                "profile's settings."
            ),
            facts=facts,
        )

    def _describe_untrusted(self) -> CertificateFacts | None:
        """Fetch the certificate without verification, only to describe it.

        A new connection is opened, the handshake done and the connection closed:
        nothing is ever sent over it.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # only to read the certificate
        try:
            sock = self._open_tunnel()
        except _StepError:
            return None
        try:
            sock.settimeout(self.timeout)
            with context.wrap_socket(sock, server_hostname=self.gateway.host) as tls:
                der = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError):
            return None
        finally:
            sock.close()
        if not der:
            return None
        try:
            return parse_certificate(der)
        except ValueError:
            return None

    def _handshake_failed(self, error: ssl.SSLError) -> DoctorStep:
        text = str(error)
        host, port = self.gateway.host, self.port
        if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text.lower():
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The server at {host}:{port} does not speak TLS.",
                "The gateway URL probably should start with http://, or the port is "
                "wrong. Check the URL with the gateway's team.",
                facts={"error": text[:200]},
            )
        return DoctorStep(
            "TLS handshake",
            Verdict.FAILED,
            f"The TLS handshake with {host} failed: {error.reason or text[:200]}.",
            "An old server, or a proxy or firewall that interferes with TLS, can "
            "cause this; tell IT and the gateway's team.",
            facts={"error": text[:200]},
        )

    # HTTP --------------------------------------------------------------

    def http(self) -> DoctorStep:
        import httpx  # noqa: PLC0415

        from app.core.http import build_client, classify_failure  # noqa: PLC0415

        t = self.timeout
        settings = dataclasses.replace(
            self.settings,
            connect_timeout=t,
            read_timeout=t,
            write_timeout=t,
            pool_timeout=t,
        )
        base = self.gateway.base
        try:
            client = build_client(settings)
        except PlanRunnerError as error:
            return DoctorStep("HTTP", Verdict.FAILED, str(error), "", setup=True)
        except (ImportError, ValueError, TypeError, httpx.InvalidURL) as error:
            return DoctorStep(
                "HTTP",
                Verdict.FAILED,
                f"The HTTP client cannot be set up: {mask_proxy_url(str(error))}.",
                "Fix the proxy settings named above.",
                setup=True,
            )
        started = time.monotonic()
        with client:
            try:
                # A GET of the base URL, without the token: never a run.
                with client.stream("GET", base) as response:
                    status = response.status_code
                    headers = {k.lower(): v for k, v in response.headers.items()}
                    peek = _peek(response, started + t)
            except httpx.HTTPError as error:
                failure = classify_failure(error)
                return DoctorStep(
                    "HTTP",
                    Verdict.FAILED,
                    f"A GET of {base} failed ({failure.kind}): {failure.detail}.",
                    _FAILURE_REMEDIES.get(
                        failure.kind,
                        "Check the network or VPN connection, then try again.",
                    ),
                    facts={"failure": failure.kind},
                )
        return self._judge(status, headers, peek, _ms(started))

    def _judge(
        self, status: int, headers: dict[str, str], body: bytes, elapsed: float
    ) -> DoctorStep:
        base, host = self.gateway.base, self.gateway.host
        excerpt = _said(body, headers.get("content-type", ""))
        facts: dict[str, object] = {"status": status, "ms": elapsed, "url": base}
        for name in ("server", "via", "location", "content-type", "www-authenticate"):
            if name in headers:
                facts[name] = headers[name][:200]
        said = f" ('{excerpt}')" if excerpt else ""
        answered = (
            f"A GET of {base} (without the token) was answered with HTTP {status}"
            f"{said} in {elapsed:g} ms"
        )
        if 200 <= status < 300 or status in (401, 405):
            return DoctorStep(
                "HTTP",
                Verdict.OK,
                f"{answered}: the gateway is reachable.",
                facts=facts,
            )
        if 300 <= status < 400:
            where = headers.get("location", "another address")
            return DoctorStep(
                "HTTP",
                Verdict.WARNING,
                f"{answered}: it redirects to {where}.",
                "Runs are never redirected (the token would follow). If this points "
                "to https:// or a login page, the gateway URL is probably wrong.",
                facts=facts,
            )
        if status == 404:
            return DoctorStep(
                "HTTP",
                Verdict.WARNING,
                f"{answered}: {host} answers, but nothing is at this path.",
                "Some gateways answer 404 on their base URL. If runs get 404 too, the "
                "path prefix in the gateway URL (such as /api/v2) is wrong.",
                facts=facts,
            )
        if status == 407:
            return DoctorStep(
                "HTTP",
                Verdict.FAILED,
                f"{answered}: the proxy asks for a user name and password.",
                "Put the credentials in the proxy URL "
                "(http://user:password@proxy:port) or ask IT.",
                facts=facts,
            )
        if status == 403:
            return DoctorStep(
                "HTTP",
                Verdict.WARNING,
                f"{answered}: a firewall, a proxy or the gateway refuses access from "
                "here.",
                "Ask IT whether this computer may reach the gateway.",
                facts=facts,
            )
        if status >= 500:
            return DoctorStep(
                "HTTP",
                Verdict.FAILED,
                f"{answered}: the gateway, or a proxy in front of it, is failing.",
                "Try again in a few minutes; if it lasts, tell the gateway's team the "
                "time of this check.",
                facts=facts,
            )
        return DoctorStep(
            "HTTP",
            Verdict.WARNING,
            f"{answered}.",
            "The gateway is reachable but answered unexpectedly; tell support.",
            facts=facts,
        )


_FAILURE_REMEDIES = {
    "dns": "Check the gateway URL for typos, and the network or VPN connection.",
    "tls": "If your company inspects TLS, ask IT to install its CA certificate, or "
    "set the extra CA file in the profile's settings.",
    "proxy": "Check the proxy settings (HTTPS_PROXY, NO_PROXY or the profile's "
    "proxy), or ask IT.",
    "connect": "The gateway is down or unreachable from here: check the network or "
    "VPN, then try again.",
    "connect_timeout": "The gateway is down or unreachable from here: check the "
    "network or VPN, then try again.",
    "read_timeout": "The gateway accepted the connection but did not answer in time; "
    "it may be overloaded. Try again later.",
    "dropped": "The connection was dropped: a proxy or firewall may cut it. Ask IT.",
}


class _StepError(Exception):
    def __init__(self, detail: str, remedy: str, *, skipped: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.remedy = remedy
        self.skipped = skipped


def _connect_through_proxy(
    sock: socket.socket, host: str, port: int, proxy_url: httpx.URL, timeout: float
) -> tuple[int, str]:
    """Ask an http proxy to open a tunnel; return its status and reason."""
    import base64  # noqa: PLC0415 - only proxies with credentials need it

    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if proxy_url.username:
        pair = f"{proxy_url.username}:{proxy_url.password}".encode()
        lines.append(f"Proxy-Authorization: Basic {base64.b64encode(pair).decode()}")
    sock.settimeout(timeout)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    data = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in data:
        if len(data) > 16 * 1024 or time.monotonic() > deadline:
            raise OSError("the proxy's answer was too long or too slow")
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("the proxy closed the connection")
        data += chunk
    status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"the proxy answered {status_line[:80]!r}")
    return int(parts[1]), parts[2] if len(parts) > 2 else ""


def _said(body: bytes, content_type: str) -> str:
    """Return what an answer says in a few words: a JSON message, or an excerpt."""
    text = body.decode("utf-8", errors="replace")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict):
        for key in ("message", "error", "status"):
            value = document.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return text_excerpt(str(value), "", 80)
    return text_excerpt(text, content_type, 80)


def _peek(response: httpx.Response, deadline: float) -> bytes:
    import httpx  # noqa: PLC0415

    body = b""
    try:
        for chunk in response.iter_bytes(chunk_size=1024):
            body += chunk
            if len(body) >= _HTTP_PEEK_BYTES or time.monotonic() > deadline:
                break
    except httpx.HTTPError:
        pass  # the status is what counts; the body is only for an excerpt
    return body[:_HTTP_PEEK_BYTES]


# --------------------------------------------------------------------------
# Copy as curl


class QueueCall(Protocol):
    """What a run asked for: an outcome or a history row."""

    @property
    def gateway_url(self) -> str:
        """The queue URL the run went to."""
        ...

    @property
    def plan_id(self) -> int:
        """The plan."""
        ...

    @property
    def user_id(self) -> int:
        """The user."""
        ...


TOKEN_PLACEHOLDER = '"Authorization: Bearer $TOKEN"'  # noqa: S105 - shell text


def curl_command(source: QueueCall | RunRequest, *, token: str | None = None) -> str:
    """Return a POSIX shell command that repeats a run with curl.

    The token is a ``$TOKEN`` placeholder unless ``token`` is given: inserting
    the real token is a separate action the person confirms. Every argument is
    quoted for POSIX shells (bash, zsh, Git Bash); IDs are exact integers.

    Raises:
        InputError: An ID is not a valid ID, or the URL is not http(s).
    """
    if isinstance(source, RunRequest):
        url = source.gateway.queue_url
    else:
        url = source.gateway_url
    return curl_for(url, source.plan_id, source.user_id, token=token)


def curl_for(
    queue_url: str, plan_id: int, user_id: int, *, token: str | None = None
) -> str:
    """Return the curl command of a run to ``queue_url``; see :func:`curl_command`."""
    for what, value in (("plan", plan_id), ("user", user_id)):
        if type(value) is not int or not 1 <= value <= 2**63 - 1:
            raise InputError(f"The {what} ID {value!r} is not a valid ID.")
    if not queue_url.lower().startswith(("http://", "https://")):
        raise InputError("Only an http:// or https:// URL can be copied as curl.")
    body = json.dumps({"planId": plan_id, "userId": user_id})
    if token is None:
        authorization = TOKEN_PLACEHOLDER
    else:
        credentials = authorization_header(token)["Authorization"]
        authorization = shlex.quote(f"Authorization: {credentials}")
    return " ".join(
        [
            "curl",
            "--request",
            "POST",
            shlex.quote(queue_url),
            "--header",
            shlex.quote("Content-Type: application/json"),
            "--header",
            authorization,
            "--data",
            shlex.quote(body),
        ]
    )


# --------------------------------------------------------------------------
# Text for people: the same words in the terminal, the app and the bundle

_MARKS = {
    Verdict.OK: "[ ok ]",
    Verdict.WARNING: "[warn]",
    Verdict.FAILED: "[FAIL]",
    Verdict.SKIPPED: "[skip]",
}


def format_status(report: Mapping[str, Any]) -> str:
    """Return a status report as text for a terminal or a ticket."""
    rows: list[tuple[str, str]] = [("Profile", report.get("profile") or "(none)")]
    gateway = report.get("gateway")
    if gateway is None:
        rows.append(("Gateway", "(none)"))
    elif gateway.get("problem"):
        rows.append(("Gateway", f"{gateway['url']}  (invalid: {gateway['problem']})"))
    else:
        rows += [("Gateway", gateway["url"]), ("Runs go to", gateway["queue_url"])]
    rows += _token_rows(report["token"])
    keyring = report["keyring"]
    kept = "" if keyring["persistent"] else "  (nothing is kept after this session)"
    rows.append(("Keyring", keyring["backend"] + kept))
    rows.append(("Proxy", report["proxy"]["detail"]))
    rows.append(("TLS trust", _tls_text(report["tls"])))
    lines = [f"{label:<12} {text}".rstrip() for label, text in rows]
    lines.append("")
    problems = report.get("problems", [])
    if problems:
        lines.append("Problems:")
        for problem in problems:
            mark = "[FAIL]" if problem["severity"] == "error" else "[warn]"
            lines.append(f"  {mark} {problem['message']}")
            if problem.get("remedy"):
                lines.append(f"         Fix: {problem['remedy']}")
    else:
        lines.append("No problems found.")
    lines.append(f"Verdict: {report['verdict']} (exit code {report['exit_code']})")
    return "\n".join(lines)


def _token_rows(token: Mapping[str, Any]) -> list[tuple[str, str]]:
    if token.get("length") is None:
        return [("Token", "none")]
    source = str(token["source"])
    where = source if source.startswith("the ") else f"stored in {source}"
    rows = [
        (
            "Token",
            f"{where}; {token['length']} characters, {token['fingerprint']}",
        )
    ]
    if token.get("is_jwt"):
        claims = [
            f"{key} {token[key]}"
            for key in ("issuer", "subject", "audience")
            if token.get(key)
        ]
        rows.append(("", "JWT" + (": " + ", ".join(claims) if claims else "")))
        expiry = str(token["expiry"])
        if token.get("expires_at"):
            expiry += f" ({str(token['expires_at'])[:16].replace('T', ' ')} UTC)"
        rows.append(("", "; ".join([*filter(None, [token.get("issued")]), expiry])))
    else:
        rows.append(("", str(token["expiry"])))
    if token.get("problem"):
        rows.append(("", f"unreadable: {token['problem']}"))
    return rows


def _tls_text(tls: Mapping[str, Any]) -> str:
    if not tls.get("extra_ca_file"):
        return str(tls["mode"])
    state = "readable" if tls.get("extra_ca_readable") else "NOT readable"
    if tls.get("extra_ca_readable") and tls.get("problem"):
        state = "readable but not usable"
    source = f", from {tls['extra_ca_source']}" if tls.get("extra_ca_source") else ""
    return f"{tls['mode']}: {tls['extra_ca_file']} ({state}{source})"


def format_doctor(steps: Sequence[DoctorStep], gateway: GatewayUrl | None) -> str:
    """Return the doctor's steps as text for a terminal or a ticket."""
    lines = []
    if gateway is not None:
        lines.append(
            f"Doctor for {gateway.base}  (runs go to {gateway.queue_url}; no run is "
            "sent)"
        )
    width = max((len(step.name) for step in steps), default=0)
    for step in steps:
        lines.append(f"{_MARKS[step.verdict]} {step.name:<{width}}  {step.detail}")
        if step.remedy and step.verdict is not Verdict.OK:
            lines.append(f"       {'':<{width}}  Fix: {step.remedy}")
    code = doctor_exit_code(steps)
    words = {EXIT_OK: "reachable", EXIT_NETWORK: "network problem"}
    lines.append(f"Result: {words.get(code, 'setup problem')} (exit code {code})")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# The diagnostic bundle


class HistoryPages(Protocol):
    """The part of the history store a bundle reads."""

    def page(self, filters: Any, *, limit: int = 200) -> Sequence[Any]:
        """Return up to ``limit`` runs, newest first."""
        ...


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle: its name, size and what it holds."""

    name: str
    size: int | None
    description: str


@dataclass(frozen=True)
class BundleManifest:
    """What a bundle holds and what was taken out of it.

    Attributes:
        created_at: When the bundle was made (ISO 8601, UTC).
        app_version: The Plan Runner version.
        files: Every file in the bundle, the manifest last (its size unknown).
        redactions: One line per secret: what it was, what replaced it, how often.
        notes: What could not be included, and why.
    """

    created_at: str
    app_version: str
    files: tuple[BundleFile, ...]
    redactions: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Return the manifest as plain data."""
        return {
            "created_at": self.created_at,
            "app_version": self.app_version,
            "files": [dataclasses.asdict(item) for item in self.files],
            "redactions": list(self.redactions),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> BundleManifest:
        """Read a manifest written by :meth:`to_dict`."""
        return cls(
            created_at=str(document["created_at"]),
            app_version=str(document["app_version"]),
            files=tuple(BundleFile(**item) for item in document["files"]),
            redactions=tuple(document["redactions"]),
            notes=tuple(document.get("notes", ())),
        )


MANIFEST_NAME = "manifest.json"

_DESCRIPTIONS = {
    "summary.txt": "status and doctor results as text, for reading first",
    "about.json": "app, Python and operating system versions, folders",
    "profiles.json": "profiles, settings and machine policy, without tokens",
    "status.json": "status facts of every profile (token facts, proxy, TLS)",
    "doctor.json": "the connectivity doctor's steps",
    "history.json": "the most recent runs from the history",
}


def secret_forms(secret: str) -> list[str]:
    """Return the forms a secret may take in text: itself, base64, URL-encoded."""
    import base64  # noqa: PLC0415

    forms = {secret}
    raw = secret.encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        forms.update({encoded, encoded.rstrip("=")})
    for quoted in (
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret, safe=""),
    ):
        forms.update({quoted, re.sub(r"%[0-9A-F]{2}", _lower_escape, quoted)})
    return sorted(forms, key=len, reverse=True)


def _lower_escape(match: re.Match[str]) -> str:
    return match.group(0).lower()


class _Scrubber:
    """Redacts bundle texts and counts what it removed, per secret."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.secrets: list[tuple[str, list[str]]] = []
        self.counts: dict[str, int] = {}
        self.other = 0

    def learn(self, label: str, secret: str | None) -> None:
        if not secret or len(secret) < 4:
            return
        forms = secret_forms(secret)
        for form in forms:
            # The redactor knows the secret and its base64 forms; the URL-encoded
            # ones are taught here so that no form of it survives in a bundle.
            self.redactor.add(form)
        self.secrets.append((label, forms))
        self.counts.setdefault(label, 0)

    def scrub(self, text: str) -> str:
        before = text.count(REDACTED)
        known = 0
        scratch = text
        for label, forms in self.secrets:
            for form in forms:
                found = scratch.count(form)
                if found:
                    self.counts[label] += found
                    known += found
                    scratch = scratch.replace(form, "\0")
        cleaned = self.redactor.redact(text)
        for _, forms in self.secrets:
            for form in forms:  # defence in depth: nothing known may survive
                cleaned = cleaned.replace(form, REDACTED)
        self.other += max(0, cleaned.count(REDACTED) - before - known)
        return cleaned

    def summary(self) -> list[str]:
        lines = [
            f"{label}: {_occurrences(count)} found and replaced by {REDACTED} (as "
            "is, base64 or URL-encoded)"
            for label, count in self.counts.items()
        ]
        lines.append(
            "other text shaped like a credential (JWTs, Authorization header values, "
            f"token=… values): {_occurrences(self.other)} replaced by {REDACTED}"
        )
        return lines


def _occurrences(count: int) -> str:
    return f"{count} occurrence{'' if count == 1 else 's'}"


def bundle_preview(
    workspace: Workspace,
    paths: AppPaths,
    redactor: Redactor,
    *,
    now: datetime | None = None,
    profile_name: str | None = None,
    doctor_steps: Sequence[DoctorStep] | None = None,
    history: HistoryPages | None = None,
    history_rows: int = BUNDLE_HISTORY_ROWS,
    extra_facts: Mapping[str, object] | None = None,
    extra_secrets: Mapping[str, str] | None = None,
    log_bytes: int = BUNDLE_LOG_BYTES,
) -> dict[str, str]:
    """Return the files of a diagnostic bundle, redacted: file name -> text.

    Every stored token is loaded first, so the redactor knows it; then every
    text passes through it. The result is what :func:`write_bundle` writes, so
    what a person previews is exactly what is saved.

    Args:
        workspace: Profiles, secrets and policy.
        paths: Where the logs and the history are.
        redactor: The app's redactor; it learns every token found.
        now: The time of the bundle (UTC).
        profile_name: The profile the summary is about (default: the default one).
        doctor_steps: The doctor's results, if it was run.
        history: The open history store; None opens the file when it exists.
        history_rows: How many recent runs to include (0 for none).
        extra_facts: Facts only a face knows (the Qt version, the screen).
        extra_secrets: Other secrets to remove, label -> value (for example the
            ``PLAN_RUNNER_TOKEN`` of the command line).
        log_bytes: How much of the end of the logs to include.
    """
    now = now or _utc_now()
    scrubber = _Scrubber(redactor)
    notes: list[str] = []

    # First learn every secret, so that nothing below is written unredacted.
    for label, value in (extra_secrets or {}).items():
        scrubber.learn(label, value)
    for profile in workspace.profiles():
        try:
            connection = workspace.connection(profile.name)
        except KeyringError as error:
            notes.append(
                f"The token of profile {profile.name!r} could not be read from the "
                f"keyring ({error}); text shaped like a token is still redacted."
            )
            continue
        if connection.token:
            scrubber.learn(
                f"token of profile {profile.name!r} ({fingerprint(connection.token)})",
                connection.token,
            )
    for label, url in _proxy_urls(workspace).items():
        scrubber.learn(label, proxy_password(url))

    selected = profile_name or default_profile_name(workspace)
    raw: dict[str, str] = {}
    statuses = {
        profile.name: status_report(workspace, profile.name, now)
        for profile in workspace.profiles()
    }
    summary = [f"Plan Runner {__version__} diagnostic bundle, {now:%Y-%m-%d %H:%M} UTC"]
    if selected in statuses:
        summary += ["", format_status(statuses[selected])]
    if doctor_steps:
        gateway = None
        if selected in statuses:
            gateway = _parsed(statuses[selected]["gateway"])
        summary += ["", format_doctor(doctor_steps, gateway)]
    else:
        summary += ["", "The connectivity doctor was not run for this bundle."]
    raw["summary.txt"] = "\n".join(summary) + "\n"
    raw["about.json"] = _json(_about(paths, workspace, now, extra_facts))
    raw["profiles.json"] = _json(_profiles(workspace))
    raw["status.json"] = _json(statuses)
    if doctor_steps:
        raw["doctor.json"] = _json([step.to_dict() for step in doctor_steps])
    rows, note = _history_rows(paths, history, history_rows)
    if note:
        notes.append(note)
    if rows is not None:
        raw["history.json"] = _json(rows)
    for name, text in _log_tails(paths, log_bytes, notes).items():
        raw[name] = text

    files = {name: scrubber.scrub(text) for name, text in raw.items()}
    manifest = BundleManifest(
        created_at=now.isoformat(timespec="seconds"),
        app_version=__version__,
        files=(
            *(
                BundleFile(
                    name,
                    len(text.encode("utf-8")),
                    _DESCRIPTIONS.get(name, "the end of the app's log"),
                )
                for name, text in files.items()
            ),
            BundleFile(MANIFEST_NAME, None, "this list, and what was removed"),
        ),
        redactions=tuple(scrubber.summary()),
        notes=tuple(notes),
    )
    files[MANIFEST_NAME] = scrubber.scrub(_json(manifest.to_dict()))
    return files


def write_bundle(path: Path, preview: Mapping[str, str]) -> BundleManifest:
    """Write the files of :func:`bundle_preview` to a zip file at ``path``.

    The file is written beside its final place and then renamed, so a failed
    write leaves no half bundle.

    Raises:
        InputError: ``preview`` is not a bundle preview.
        SetupError: The file cannot be written.
    """
    if MANIFEST_NAME not in preview:
        raise InputError("This is not a bundle preview: it has no manifest.")
    manifest = BundleManifest.from_dict(json.loads(preview[MANIFEST_NAME]))
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for name, text in preview.items():
                bundle.writestr(name, text.encode("utf-8"))
        partial.replace(path)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise SetupError(
            f"The bundle could not be written to {path}: {error.strerror or error}."
        ) from None
    log.info("Diagnostic bundle written to %s (%d files)", path, len(preview))
    return manifest


def _json(document: object) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"


def _proxy_urls(workspace: Workspace) -> dict[str, str]:
    found: dict[str, str] = {}
    candidates = [
        ("proxy of Plan Runner's settings", workspace.settings.proxy),
        ("proxy of the machine policy", workspace.policy.proxy),
        *((f"proxy of profile {p.name!r}", p.proxy) for p in workspace.profiles()),
        *(
            (f"proxy password in {name}", value)
            for name, value in os.environ.items()
            if name.lower().endswith("_proxy")
        ),
    ]
    for label, url in candidates:
        if url and proxy_password(url):
            found[label] = url
    return found


def _about(
    paths: AppPaths,
    workspace: Workspace,
    now: datetime,
    extra: Mapping[str, object] | None,
) -> dict[str, object]:
    import httpx  # noqa: PLC0415

    return {
        "app_version": __version__,
        "created_at": now.isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "frozen": bool(getattr(sys, "frozen", False)),
        "os": platform.platform(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "httpx": httpx.__version__,
        "ssl": ssl.OPENSSL_VERSION,
        "keyring_backend": workspace.secrets.backend_name,
        "keyring_persistent": workspace.secrets.persistent,
        "folders": {
            "config": str(paths.config_dir),
            "data": str(paths.data_dir),
            "logs": str(paths.log_dir),
            "policy_file": str(paths.policy_file),
        },
        "problems": workspace.problems,
        **(dict(extra) if extra else {}),
    }


def _profiles(workspace: Workspace) -> dict[str, object]:
    profiles = []
    for profile in workspace.profiles():
        data = profile.model_dump(mode="json")
        if data.get("proxy"):
            data["proxy"] = mask_proxy_url(data["proxy"])
        try:
            connection = workspace.connection(profile.name)
            data["gateway_url"] = connection.gateway_url
            data["token_stored"] = bool(connection.token)
        except KeyringError as error:
            data["keyring_problem"] = str(error)
        data["preset_by_policy"] = workspace.is_preset(profile.name)
        profiles.append(data)
    settings = workspace.settings.model_dump(mode="json", exclude={"profiles"})
    policy = workspace.policy.model_dump(mode="json")
    for document in (settings, policy):
        if document.get("proxy"):
            document["proxy"] = mask_proxy_url(document["proxy"])
    for preset in policy.get("profiles", []):
        if preset.get("proxy"):
            preset["proxy"] = mask_proxy_url(preset["proxy"])
    return {"profiles": profiles, "settings": settings, "policy": policy}


def _history_rows(
    paths: AppPaths, history: HistoryPages | None, limit: int
) -> tuple[list[dict[str, Any]] | None, str | None]:
    if limit <= 0:
        return None, "No history rows were asked for."
    from app.core.errors import HistoryError  # noqa: PLC0415
    from app.core.history import HistoryFilter, HistoryStore  # noqa: PLC0415

    limit = min(limit, 10_000)
    try:
        if history is not None:
            rows = history.page(HistoryFilter(), limit=limit)
            return [row.to_dict() for row in rows], None
        if not paths.history_file.exists():
            return None, "There is no history file yet."
        with HistoryStore.open(paths.history_file) as store:
            rows = store.page(HistoryFilter(), limit=limit)
            return [row.to_dict() for row in rows], None
    except HistoryError as error:
        return None, f"The history could not be read: {error}"


def _log_tails(paths: AppPaths, budget: int, notes: list[str]) -> dict[str, str]:
    """Return the end of the log and of its last rotation, ``budget`` bytes in all."""
    tails: dict[str, str] = {}
    for source in (
        paths.log_file,
        paths.log_file.with_name(paths.log_file.name + ".1"),
    ):
        if budget <= 0:
            break
        try:
            with source.open("rb") as stream:
                size = stream.seek(0, os.SEEK_END)
                start = max(0, size - budget)
                stream.seek(start)
                data = stream.read(budget)
        except FileNotFoundError:
            continue
        except OSError as error:
            notes.append(f"The log {source} could not be read: {error}")
            continue
        budget -= len(data)
        if start > 0:
            budget = 0  # this file alone fills the budget: older lines would not fit
            if b"\n" in data:
                data = data[data.index(b"\n") + 1 :]  # start at a whole line
        tails[f"logs/{source.name}"] = data.decode("utf-8", errors="replace")
    if not tails:
        notes.append(f"No log file was found in {paths.log_dir}.")
    return tails


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def describe_steps(steps: Iterable[DoctorStep]) -> list[dict[str, object]]:
    """Return doctor steps as plain data (for JSON output)."""
    return [step.to_dict() for step in steps]
