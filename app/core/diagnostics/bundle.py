"""The diagnostic bundle: the facts support needs, in a zip without any secret.

Every text that leaves the machine in a bundle passes through the
:class:`~app.core.redact.Redactor` after it has learnt every stored token.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import platform
import re
import ssl
import sys
import urllib.parse
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from app import __version__
from app.core.diagnostics.doctor import DoctorStep, _utc_now, format_doctor
from app.core.diagnostics.proxies import mask_proxy_url, proxy_password
from app.core.diagnostics.status import (
    _parsed,
    default_profile_name,
    format_status,
    status_report,
)
from app.core.errors import InputError, KeyringError, SetupError
from app.core.paths import AppPaths
from app.core.redact import REDACTED, Redactor
from app.core.tokens import fingerprint
from app.core.workspace import Workspace

log = logging.getLogger(__name__)


BUNDLE_HISTORY_ROWS = 50
BUNDLE_LOG_BYTES = 200 * 1024


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
        # The redactor removes the secret in every form it knows of (encoded,
        # broken up, in other letter case); the exact forms are kept here to
        # count how often each secret was found.
        self.redactor.add(secret)
        self.secrets.append((label, secret_forms(secret)))
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
            "pieces of a token and its other forms (split up, hex, base32, other "
            "letter case), and other text shaped like a credential (JWTs, "
            "Authorization header values, token=… values): "
            f"{_occurrences(self.other)} replaced by {REDACTED}"
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
    doctor_skipped: str | None = None,
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
        doctor_skipped: Why the doctor could not be run, if it could not (the
            gateway URL is unknown, say); the summary and the notes say so.
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
    elif doctor_skipped:
        summary += ["", doctor_skipped]
        notes.append(doctor_skipped)
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
