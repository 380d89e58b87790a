"""User settings and the machine policy: profiles and preferences, never secrets.

The user's settings are JSON in the platform's config folder; IT's machine
policy has the same shape plus gateway URLs and a list of locked fields. Both
carry a schema version; older user files are migrated (after a backup), newer
ones are left untouched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

from app.core.contract import LONG_MAX
from app.core.errors import ConfigError, InputError, PolicyLockedError

PositiveLong = Annotated[int, Field(strict=True, ge=1, le=LONG_MAX)]
"""An ID as the gateway takes it (a Java ``Long`` above zero), never coerced."""

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_READ_TIMEOUT = 30.0

MAX_FILE_BYTES = 16 * 1024 * 1024
"""A settings or policy file larger than this is not read (real ones are a few kB)."""


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValueError("a profile needs a name")
    if len(name) > 60:
        raise ValueError("a profile name has at most 60 characters")
    if any(not ch.isprintable() for ch in name):
        raise ValueError(
            "a profile name cannot contain line breaks, control characters or "
            "invisible characters"
        )
    return name


ProfileName = Annotated[str, AfterValidator(_check_name)]
Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]


class CatalogueEntry(BaseModel):
    """A plan or user the person named, for pickers."""

    model_config = ConfigDict(extra="ignore")

    id: PositiveLong
    name: str = Field(default="", max_length=200)
    favourite: bool = False


class Profile(BaseModel):
    """One environment's preferences: no URL and no token (those are in the keyring).

    Attributes:
        name: Unique name, shown in pickers.
        default_user: The user a run uses unless another is picked.
        read_timeout: Seconds to wait for the gateway's answer.
        colour: A colour band that tells environments apart.
        critical: Ask for a confirmation naming the host before each run.
        allow_plain_http: Send the token over plain http to a non-loopback host.
        proxy: A proxy URL for this profile, instead of the environment's.
        extra_ca_file: A PEM file of extra CA certificates to trust.
        plans, users: The local catalogue of names.
    """

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    name: ProfileName
    default_user: PositiveLong | None = None
    read_timeout: float = Field(default=DEFAULT_READ_TIMEOUT, ge=1, le=600)
    colour: Colour | None = None
    critical: bool = False
    allow_plain_http: bool = False
    proxy: str | None = None
    extra_ca_file: str | None = None
    plans: list[CatalogueEntry] = Field(default_factory=list)
    users: list[CatalogueEntry] = Field(default_factory=list)


class Retention(BaseModel):
    """How much history to keep; None keeps everything."""

    model_config = ConfigDict(extra="ignore")

    keep_days: int | None = Field(default=None, ge=1)
    keep_runs: int | None = Field(default=None, ge=1)


class Settings(BaseModel):
    """The user's settings file."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = SCHEMA_VERSION
    profiles: list[Profile] = Field(default_factory=list)
    last_profile: str | None = None
    retention: Retention = Field(default_factory=Retention)
    extra_ca_file: str | None = None
    proxy: str | None = None

    def profile(self, name: str) -> Profile | None:
        """Return the profile called ``name``, if there is one."""
        return next((p for p in self.profiles if p.name == name), None)


class PolicyProfile(Profile):
    """A profile preset by IT, with its gateway URL."""

    gateway_url: str | None = None


class Policy(BaseModel):
    """The machine policy IT installs.

    ``locked`` names what users cannot change: ``profiles`` (the preset profiles
    and their URLs), ``extra_ca_file``, ``proxy``, ``retention``, or
    ``profiles.<field>`` for one field of every preset profile.
    """

    model_config = ConfigDict(extra="ignore")

    schema_version: int = SCHEMA_VERSION
    profiles: list[PolicyProfile] = Field(default_factory=list)
    extra_ca_file: str | None = None
    proxy: str | None = None
    retention: Retention | None = None
    locked: list[str] = Field(default_factory=list)

    def is_locked(self, field: str) -> bool:
        """Return whether ``field`` (or its parent) is locked."""
        return any(
            field == lock or field.startswith(lock + ".") for lock in self.locked
        )

    def profile(self, name: str) -> PolicyProfile | None:
        """Return the preset profile called ``name``, if there is one."""
        return next((p for p in self.profiles if p.name == name), None)


Migration = Callable[[dict[str, Any]], dict[str, Any]]
# Each migration takes a document of version N and returns one of version N + 1.
MIGRATIONS: dict[int, Migration] = {
    0: lambda doc: {**doc, "schema_version": 1},
}


def migrate(document: dict[str, Any]) -> dict[str, Any]:
    """Bring a settings document up to :data:`SCHEMA_VERSION`.

    Raises:
        ConfigError: The document is from a newer version of Plan Runner.
    """
    version = document.get("schema_version", 0)
    if not is_schema_version(version):
        raise ConfigError(
            f"The settings file has an invalid schema_version {_short(version)}."
        )
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"The settings file was written by a newer Plan Runner (schema "
            f"{_short(version)}, this one reads up to {SCHEMA_VERSION}). It is left "
            "as it is; changes made now are not saved. Update Plan Runner to use it."
        )
    while version < SCHEMA_VERSION:
        document = MIGRATIONS[version](document)
        version = document["schema_version"]
    return document


def is_schema_version(value: object) -> bool:
    """Whether ``value`` can be a schema version: a whole number, 0 or more."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class SettingsStore:
    """Reads and writes the user's settings file, atomically.

    A file that cannot be read is never overwritten blindly: it is copied aside
    first (``settings.json.bad-<time>``), and a file from a newer version makes
    the store read-only for the session.
    """

    def __init__(self, path: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.path = path
        self._clock = clock or (lambda: datetime.now(UTC))
        self.read_only_reason: str | None = None
        self.load_problem: str | None = None

    def load(self) -> Settings:
        """Return the settings; defaults when the file is missing or unreadable.

        When the file is unreadable, :attr:`load_problem` says why, for the face
        to show; the bad file is kept beside the new one. Profiles that repeat a
        name are dropped (the first of each name stays), after a backup, and
        :attr:`load_problem` names them.
        """
        self.load_problem = None
        try:
            document = read_json(self.path)
        except FileNotFoundError:
            return Settings()
        except OSError as error:
            return self._unreadable(f"cannot be read ({error})")
        except ValueError as error:
            return self._unreadable(f"is {error}")
        if not isinstance(document, dict):
            return self._unreadable("does not hold a JSON object")
        original_version = document.get("schema_version", 0)
        if not is_schema_version(original_version):
            return self._unreadable(
                f"has an invalid schema_version {_short(original_version)} (it "
                "must be a whole number such as 1)"
            )
        try:
            document = migrate(document)
        except ConfigError as error:
            self.read_only_reason = str(error)
            self.load_problem = str(error)
            return Settings()
        try:
            settings = Settings.model_validate(document)
        except ValidationError as error:
            return self._unreadable(f"has invalid values ({_first_error(error)})")
        if original_version != SCHEMA_VERSION:
            self._backup("pre-migration")
            self.save(settings)
        profiles, duplicated = unique_profiles(settings.profiles)
        if duplicated:
            settings = settings.model_copy(update={"profiles": profiles})
            self._drop_duplicates(settings, duplicated)
        return settings

    def save(self, settings: Settings) -> None:
        """Write the settings atomically (a temporary file, then a rename).

        Raises:
            ConfigError: The file cannot be written, or is read-only this session.
        """
        if self.read_only_reason:
            raise ConfigError(self.read_only_reason)
        data = settings.model_dump_json(indent=2)
        write_atomically(self.path, data)

    def _drop_duplicates(self, settings: Settings, names: list[str]) -> None:
        """Keep a copy of the file, then save it with one profile of each name."""
        kept = self._backup("duplicates")
        where = f" The old file was kept as {kept.name}." if kept else ""
        try:
            self.save(settings)
        except ConfigError as error:
            where += f" The cleaned file could not be saved: {error}"
        listed = ", ".join(repr(name) for name in names)
        self.load_problem = (
            f"The settings file {self.path} had more than one profile called "
            f"{listed}; the first of each was kept and the others were removed."
            f"{where}"
        )
        log.warning("%s", self.load_problem)

    def _unreadable(self, why: str) -> Settings:
        kept = self._backup("bad")
        where = f" It was kept as {kept.name}." if kept else ""
        self.load_problem = (
            f"The settings file {self.path} {why}. Plan Runner started with default "
            f"settings.{where}"
        )
        log.warning("%s", self.load_problem)
        return Settings()

    def _backup(self, label: str) -> Path | None:
        stamp = self._clock().strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.{label}-{stamp}")
        try:
            shutil.copy2(self.path, target)
        except OSError as error:
            log.warning("Could not back up %s: %s", self.path, error)
            return None
        return target


def load_policy(path: Path) -> tuple[Policy, str | None]:
    """Read the machine policy; return it and a problem to show, if any.

    A missing policy is an empty one. A broken policy is reported and ignored, so
    a typo by IT does not lock people out of the app.
    """
    try:
        document = read_json(path)
    except FileNotFoundError:
        return Policy(), None
    except OSError as error:
        return (
            Policy(),
            f"The machine policy {path} cannot be read ({error}); it is ignored.",
        )
    except ValueError as error:
        return (
            Policy(),
            f"The machine policy {path} is invalid ({error}); it is ignored.",
        )
    try:
        if not isinstance(document, dict):
            raise ValueError("it does not hold a JSON object")
        policy = Policy.model_validate(document)
    except (ValueError, ValidationError) as error:
        detail = _first_error(error) if isinstance(error, ValidationError) else error
        return (
            Policy(),
            f"The machine policy {path} is invalid ({detail}); it is ignored.",
        )
    problems = []
    if policy.schema_version > SCHEMA_VERSION:
        problems.append(
            f"The machine policy {path} is for a newer Plan Runner; fields this "
            "version does not know are ignored."
        )
    presets, duplicated = unique_profiles(policy.profiles)
    if duplicated:
        policy = policy.model_copy(update={"profiles": presets})
        listed = ", ".join(repr(name) for name in duplicated)
        problems.append(
            f"The machine policy {path} has more than one profile called {listed}; "
            "the first of each is used."
        )
    return policy, " ".join(problems) or None


def read_json(path: Path) -> Any:
    """Read and decode a small JSON file (settings, policy).

    Raises:
        FileNotFoundError: There is no such file.
        OSError: The file cannot be read.
        ValueError: What the file holds cannot be used; the message says why,
            in words that follow "is" ("not valid JSON (…)").
    """
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(
            f"too large to be a settings file ({size:,} bytes; at most "
            f"{MAX_FILE_BYTES:,})"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text ({error})") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise ValueError(f"not valid JSON ({error})") from None
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
    except MemoryError:
        raise ValueError("too large to read") from None


_P = TypeVar("_P", bound=Profile)


def unique_profiles(profiles: list[_P]) -> tuple[list[_P], list[str]]:
    """Return the profiles with only the first of each name, and the names repeated."""
    seen: set[str] = set()
    unique: list[_P] = []
    duplicated: list[str] = []
    for profile in profiles:
        if profile.name not in seen:
            seen.add(profile.name)
            unique.append(profile)
        elif profile.name not in duplicated:
            duplicated.append(profile.name)
    return unique, duplicated


def effective_profiles(settings: Settings, policy: Policy) -> list[Profile]:
    """Return the profiles in use: IT's presets first, then the user's own.

    A user profile of the same name as a preset keeps the user's preferences for
    the fields the policy does not lock.
    """
    result: list[Profile] = []
    for preset in policy.profiles:
        mine = settings.profile(preset.name)
        merged = preset.model_dump(exclude={"gateway_url"})
        if mine is not None:
            for field, value in mine.model_dump().items():
                if field != "name" and not policy.is_locked(f"profiles.{field}"):
                    merged[field] = value
        result.append(Profile.model_validate(merged))
    preset_names = {p.name for p in policy.profiles}
    result.extend(p for p in settings.profiles if p.name not in preset_names)
    return result


def check_unlocked(policy: Policy, field: str, profile: str | None = None) -> None:
    """Refuse a change that the machine policy locks.

    Raises:
        PolicyLockedError: ``field`` (of the preset ``profile``) is locked.
    """
    if profile is not None:
        if policy.profile(profile) is None:
            return
        if policy.is_locked("profiles") or policy.is_locked(f"profiles.{field}"):
            raise PolicyLockedError(
                f"The {field.replace('_', ' ')} of profile {profile!r} is set by your "
                "IT department's policy and cannot be changed here."
            )
        return
    if policy.is_locked(field):
        raise PolicyLockedError(
            f"The {field.replace('_', ' ')} is set by your IT department's policy and "
            "cannot be changed here."
        )


def validate_profile_name(name: str) -> str:
    """Return ``name`` cleaned, or raise :class:`InputError` saying what is wrong."""
    try:
        return _check_name(name)
    except ValueError as error:
        raise InputError(f"Invalid profile name: {error}.") from None


def build_profile(values: dict[str, Any]) -> Profile:
    """Return the profile of ``values`` (field names as in :class:`Profile`).

    Raises:
        InputError: The name or another value is not valid, saying which.
    """
    name = validate_profile_name(str(values.get("name", "")))
    try:
        return Profile.model_validate({**values, "name": name})
    except ValidationError as error:
        raise InputError(
            f"Profile {name!r} cannot be saved: {_first_error(error)}."
        ) from None


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Raises:
        ConfigError: The folder or file cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=path.name, dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as error:
        raise ConfigError(
            f"Could not write {path}: {error.strerror or error}."
        ) from None


_LOC = re.compile(r"\s+")


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = _LOC.sub(" ", str(first.get("msg", "invalid value")))
    return f"{where}: {message}" if where else message
