"""The status of a profile: its facts and what is wrong, without its token.

Tokens are described by length and fingerprint, proxies without their passwords.
The report is plain data for the status panel, ``plan-runner status`` and the
bundle; :func:`format_status` words it for a terminal or a ticket.
"""

from __future__ import annotations

import contextlib
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from app.core.diagnostics.proxies import effective_proxy, proxy_source
from app.core.errors import InputError, KeyringError, SetupError
from app.core.exchange import ClientSettings, for_gateway
from app.core.secrets import SessionStore
from app.core.settings import Profile
from app.core.tokens import (
    TokenFacts,
    clean_token,
    humanize_seconds,
    token_facts,
)
from app.core.urls import GatewayUrl, parse_gateway_url
from app.core.workspace import Workspace

TOKEN_VARIABLE = "PLAN_RUNNER_TOKEN"  # noqa: S105 - a variable name, not a secret
EXPIRES_SOON = timedelta(minutes=10)


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
    # Only a profile's gateway URL and token live in the keyring: an ad-hoc
    # gateway takes its token from the environment, so there a missing keyring
    # is worth a warning, not a failure (a CI machine has none).
    keyring = _keyring_facts(
        workspace,
        problems,
        needed=profile_name is not None or gateway_url is None,
    )

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
            # Without a keyring at all, the keyring's own problem says why already.
            if workspace.secrets.persistent:
                problems.append(
                    Problem(
                        Area.SETUP,
                        "error",
                        f"The keyring could not be read: {error}",
                        "Unlock the keyring (log in to the desktop session) and "
                        "check again.",
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


def _keyring_facts(
    workspace: Workspace, problems: list[Problem], *, needed: bool
) -> dict[str, Any]:
    store = workspace.secrets
    reason = getattr(store, "reason", None)
    if not store.persistent:
        kept = (
            "so tokens are kept for this session only"
            if isinstance(store, SessionStore)
            else "so no token can be read or stored"
        )
        problems.append(
            Problem(
                Area.SETUP,
                "error" if needed else "warning",
                f"No keyring is usable, {kept}" + (f": {reason}" if reason else "."),
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
        if not keyring_read:
            # Nothing is known of a stored token: it was not looked at, not absent.
            facts["unread"] = "the keyring could not be read"
        elif profile is not None or gateway is not None:
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
        return [
            ("Token", f"unknown: {token['unread']}" if token.get("unread") else "none")
        ]
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
