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
import stat
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from filelock import FileLock, Timeout
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

LOCK_TIMEOUT_SECONDS = 5.0
"""How long a change waits for another Plan Runner to finish its own change.

A change holds the lock only to read, edit and write a file of a few kB (never
while the keyring is asked), so a wait this long means something is stuck.
"""


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
    """Reads and changes the user's settings file, atomically and one at a time.

    The app and any number of commands may use the file at once, so every change
    is a read-modify-write under an inter-process lock (``settings.json.lock``
    beside the file, owner-only): the file is read afresh, only that change is
    applied to what it holds, and the result is written atomically. The lock is
    the operating system's (``flock``, or ``LockFileEx`` on Windows), so it ends
    with the process that holds it, even one that is killed.

    A file that cannot be read is never overwritten blindly. A damaged one is
    moved aside once (``settings.json.bad-<time>``, owner-only), so the next
    start finds no file and says nothing. A file that is there but cannot be
    opened (permissions, a folder), or is from a newer version, or cannot be
    moved aside, makes the store read-only instead.
    """

    def __init__(
        self,
        path: Path,
        clock: Callable[[], datetime] | None = None,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    ) -> None:
        self.path = path
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock_timeout = lock_timeout
        self._locks: dict[Path, FileLock] = {}
        self._found_damaged = False
        self.read_only_reason: str | None = None
        self.load_problem: str | None = None

    @property
    def lock_path(self) -> Path:
        """The lock file that one change at a time holds."""
        return self.path.with_name(f"{self.path.name}.lock")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the settings file's lock for one read-modify-write.

        The lock is reentrant within a thread; other threads and processes wait
        for it, up to the store's time limit.

        Raises:
            ConfigError: The lock was not taken in time, or cannot be made.
        """
        lock = self._lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            raise ConfigError(
                f"The settings file {self.path} is being changed by another Plan "
                f"Runner (the app or a command), which did not finish within "
                f"{self._lock_timeout:g} s. Try again; if this keeps happening, "
                f"close the other Plan Runner windows and commands. (Its lock "
                f"file is {self.lock_path}.)"
            ) from None
        except (OSError, NotImplementedError) as error:
            why = getattr(error, "strerror", None) or str(error) or "not supported"
            raise ConfigError(
                f"Could not write {self.path}: its lock file {self.lock_path.name} "
                f"cannot be used ({why})."
            ) from None
        try:
            _make_private(self.lock_path)
            yield
        finally:
            lock.release()

    def _lock(self) -> FileLock:
        """Return the lock of the current :attr:`path` (tests may move it)."""
        path = self.lock_path
        if path not in self._locks:
            self._locks[path] = FileLock(
                path,
                timeout=self._lock_timeout,
                mode=0o600,
                # A soft lock is a file whose existence is the lock: a killed
                # process would leave it behind and block every later change.
                fallback_to_soft=False,
            )
        return self._locks[path]

    def load(self) -> Settings:
        """Return the settings; defaults when the file is missing or unreadable.

        When the file is unreadable, :attr:`load_problem` says why and where it
        went, for the face to show. Profiles that repeat a name are dropped (the
        first of each name stays), after a backup, and :attr:`load_problem`
        names them. Those repairs are made under the lock; when the lock cannot
        be taken, the file is read as it is and nothing is repaired.
        """
        if not self.path.exists() and not self.path.is_symlink():
            self.load_problem = None
            self.read_only_reason = None
            return Settings()
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(self.locked())
            except ConfigError as error:
                log.warning("%s The file is read without repairs.", error)
                return self._read(repair=False)
            return self._read(repair=True)

    def update(
        self,
        change: Callable[[Settings], Settings],
        fallback: Settings | None = None,
    ) -> Settings:
        """Apply one change to the settings on disk, and save the result.

        Under the lock, the file is read afresh, so what another Plan Runner
        saved meanwhile is kept; ``change`` gets those settings and returns them
        changed (or the same object to change nothing; it may raise to refuse).
        A file found damaged meanwhile is moved aside as at a start, and the
        change applies to ``fallback``, the settings the caller had.

        Returns:
            The settings as they are on disk now.

        Raises:
            ConfigError: The lock was not taken in time, or the file cannot be
                read or written (nothing was changed).
        """
        earlier_problem = self.load_problem
        with self.locked():
            self._found_damaged = False
            current = self._read(repair=True)
            if self._found_damaged and fallback is not None:
                current = fallback
            self.load_problem = self.load_problem or earlier_problem
            changed = change(current)
            if changed is current or changed == current:
                return current
            self.save(changed)
        return changed

    def save(self, settings: Settings) -> None:
        """Write the settings atomically (a temporary file, then a rename).

        This replaces the whole file: changes go through :meth:`update`, which
        calls it under the lock with the file's fresh content.

        Raises:
            ConfigError: The file cannot be written, or is read-only this session.
        """
        if self.read_only_reason:
            raise ConfigError(self.read_only_reason)
        data = settings.model_dump_json(indent=2)
        with self.locked():
            write_atomically(self.path, data)

    def _read(self, *, repair: bool) -> Settings:
        """Read the file, repairing it (set aside, migrated, de-duplicated) if asked."""
        self.load_problem = None
        self.read_only_reason = None
        try:
            document = read_json(self.path)
        except FileNotFoundError:
            return Settings()
        except OSError as error:
            return self._cannot_open(error)
        except ValueError as error:
            return self._set_aside(f"is {error}", repair=repair)
        if not isinstance(document, dict):
            return self._set_aside(
                f"does not hold a JSON object (it holds {_json_kind(document)})",
                repair=repair,
            )
        original_version = document.get("schema_version", 0)
        if not is_schema_version(original_version):
            return self._set_aside(
                f"has an invalid schema_version {_short(original_version)} (it "
                "must be a whole number such as 1)",
                repair=repair,
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
            return self._set_aside(
                f"has invalid values ({_first_error(error)})", repair=repair
            )
        if original_version != SCHEMA_VERSION and repair:
            self._migrate(settings)
        profiles, duplicated = unique_profiles(settings.profiles)
        if duplicated:
            settings = settings.model_copy(update={"profiles": profiles})
            if repair:
                self._drop_duplicates(settings, duplicated)
        return settings

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

    def _migrate(self, settings: Settings) -> None:
        """Keep a copy of the older file, then save it in this version's form."""
        self._backup("pre-migration")
        try:
            self.save(settings)
        except ConfigError as error:
            self.load_problem = (
                f"The settings file {self.path} is from an older Plan Runner and "
                f"could not be updated: {error} It is read as it is."
            )
            log.warning("%s", self.load_problem)

    def _cannot_open(self, error: OSError) -> Settings:
        """Start from defaults without touching a file that cannot be opened.

        Its content may be fine (wrong permissions, a folder in its place), so it
        is neither moved nor overwritten: the session is read-only instead.
        """
        why = error.strerror or str(error)
        self.read_only_reason = (
            f"The settings file {self.path} cannot be read ({why}), so changes are "
            "not saved over it. Fix it or move it away, then start Plan Runner "
            "again."
        )
        self.load_problem = (
            f"The settings file {self.path} cannot be read ({why}). Plan Runner "
            "started with default settings and will not save changes over it. Fix "
            "it or move it away, then start Plan Runner again."
        )
        log.warning("%s", self.load_problem)
        return Settings()

    def _set_aside(self, why: str, *, repair: bool) -> Settings:
        """Move a damaged file aside, once, and start from defaults.

        The moved file keeps the damaged content for support; the next start
        finds no settings file and starts quietly. When the file cannot be
        moved (or may not be, ``repair`` false), it stays where it is and the
        store is read-only, so it is not overwritten either.
        """
        self._found_damaged = True
        start = (
            f"The settings file {self.path} {why}. Plan Runner started with "
            "default settings."
        )
        if not repair:
            self.read_only_reason = (
                f"{start} Another Plan Runner is changing it, so it was left as "
                "it is, and changes are not saved over it."
            )
            self.load_problem = self.read_only_reason
            log.warning("%s", self.load_problem)
            return Settings()
        try:
            kept = self._move_aside("bad")
        except FileNotFoundError:
            # Another Plan Runner, started at the same moment, moved it first.
            self.load_problem = start
        except OSError as error:
            self.read_only_reason = (
                f"{start} It could not be moved aside "
                f"({error.strerror or error}), so changes are not saved over it."
            )
            self.load_problem = self.read_only_reason
        else:
            self.load_problem = (
                f"{start} It was kept as {kept.name} in the same folder."
            )
        log.warning("%s", self.load_problem)
        return Settings()

    def _move_aside(self, label: str) -> Path:
        """Rename the settings file to a backup name no other file has.

        Raises:
            OSError: It could not be renamed (FileNotFoundError: it is gone).
        """
        target = self._backup_name(label)
        os.replace(self.path, target)
        _make_private(target)
        return target

    def _backup(self, label: str) -> Path | None:
        """Copy the settings file to an owner-only backup; reuse an equal one.

        A copy that holds the same bytes as an earlier backup of the same kind
        is not made again, so a save that keeps failing does not pile copies up.
        """
        try:
            data = self.path.read_bytes()
            pattern = f"{self.path.name}.{label}-*"
            for earlier in sorted(self.path.parent.glob(pattern)):
                if earlier.is_file() and earlier.read_bytes() == data:
                    return earlier
            target = self._backup_name(label)
            handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
        except OSError as error:
            log.warning("Could not back up %s: %s", self.path, error)
            return None
        return target

    def _backup_name(self, label: str) -> Path:
        stamp = self._clock().strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.{label}-{stamp}")
        number = 1
        while target.exists() or target.is_symlink():
            number += 1
            target = target.with_name(f"{self.path.name}.{label}-{stamp}-{number}")
        return target


def _make_private(path: Path) -> None:
    """Take group and other permissions off ``path``, as the settings file has."""
    try:
        if path.is_symlink():
            return
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(mode & 0o700)
    except OSError as error:
        log.warning("Could not make %s private: %s", path, error)


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    return "null"


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

    A byte order mark at the start (as Windows Notepad writes) is allowed.

    Raises:
        FileNotFoundError: There is no such file.
        OSError: The file cannot be opened or is not a regular file.
        ValueError: What the file holds cannot be used; the message says why,
            in words that follow "is" ("not valid JSON (…)").
    """
    facts = path.stat()
    if not stat.S_ISREG(facts.st_mode):
        # Opening a pipe or a device would block or read without end.
        kind = "a folder" if stat.S_ISDIR(facts.st_mode) else "not a regular file"
        raise OSError(f"it is {kind}")
    if facts.st_size > MAX_FILE_BYTES:
        raise ValueError(
            f"too large to be a settings file ({facts.st_size:,} bytes; at most "
            f"{MAX_FILE_BYTES:,})"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text ({error})") from None
    if not text.strip():
        raise ValueError("empty")
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
