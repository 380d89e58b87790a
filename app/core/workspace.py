"""The workspace: the user's profiles, their secrets and IT's policy, together.

Both faces (GUI and command line) manage profiles and prepare runs through this
one class, so a rule such as "a locked field is refused" lives in one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import ConfigError, InputError, KeyringError, SetupError
from app.core.exchange import ClientSettings
from app.core.paths import AppPaths
from app.core.redact import Redactor
from app.core.runner import RunRequest
from app.core.secrets import (
    Connection,
    SecretStore,
)
from app.core.settings import (
    CatalogueEntry,
    Policy,
    Profile,
    Retention,
    Settings,
    SettingsStore,
    build_profile,
    check_unlocked,
    effective_profiles,
    load_policy,
    validate_profile_name,
)
from app.core.tokens import clean_token
from app.core.urls import GatewayUrl, parse_gateway_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkspaceFiles:
    """What a workspace reads from disk: the user's settings and IT's policy."""

    settings_store: SettingsStore
    settings: Settings
    policy: Policy
    policy_problem: str | None


def read_workspace_files(paths: AppPaths) -> WorkspaceFiles:
    """Read the settings and the policy (the GUI does this off its thread)."""
    policy, problem = load_policy(paths.policy_file)
    store = SettingsStore(paths.settings_file)
    return WorkspaceFiles(store, store.load(), policy, problem)


class Workspace:
    """Profiles, connections and policy.

    Args:
        settings_store: The user's settings file.
        secrets: Where gateway URLs and tokens are kept.
        policy: IT's machine policy (possibly empty).
        redactor: Learns every token the workspace sees.
        policy_problem: Why the policy file could not be used, if it could not.
        settings: The settings, when read already; else read from the store.
    """

    def __init__(
        self,
        settings_store: SettingsStore,
        secrets: SecretStore,
        policy: Policy,
        redactor: Redactor,
        policy_problem: str | None = None,
        *,
        settings: Settings | None = None,
    ) -> None:
        self.settings_store = settings_store
        self.secrets = secrets
        self.policy = policy
        self.policy_problem = policy_problem
        self.redactor = redactor
        self.settings: Settings = (
            settings if settings is not None else settings_store.load()
        )

    @classmethod
    def open(
        cls, paths: AppPaths, redactor: Redactor, secrets: SecretStore
    ) -> Workspace:
        """Open the workspace of ``paths`` with the given secret store."""
        return cls.from_files(read_workspace_files(paths), redactor, secrets)

    @classmethod
    def from_files(
        cls, files: WorkspaceFiles, redactor: Redactor, secrets: SecretStore
    ) -> Workspace:
        """Return the workspace of files read already, with the given secrets."""
        return cls(
            files.settings_store,
            secrets,
            files.policy,
            redactor,
            files.policy_problem,
            settings=files.settings,
        )

    @property
    def problems(self) -> list[str]:
        """Problems to show: an unreadable settings file, a broken policy."""
        found = [self.settings_store.load_problem, self.policy_problem]
        return [problem for problem in found if problem]

    def profiles(self) -> list[Profile]:
        """Return every profile: IT's presets first, then the user's."""
        return effective_profiles(self.settings, self.policy)

    def profile(self, name: str) -> Profile:
        """Return the profile called ``name``.

        Raises:
            InputError: There is no such profile.
        """
        for profile in self.profiles():
            if profile.name == name:
                return profile
        known = ", ".join(p.name for p in self.profiles()) or "none yet"
        raise InputError(f"There is no profile called {name!r} (profiles: {known}).")

    def is_preset(self, name: str) -> bool:
        """Whether IT's policy presets the profile called ``name``."""
        return self.policy.profile(name) is not None

    def is_locked(self, field: str, profile: str | None = None) -> bool:
        """Whether the policy locks ``field`` (of the preset ``profile``)."""
        try:
            check_unlocked(self.policy, field, profile)
        except SetupError:
            return True
        return False

    def connection(self, name: str) -> Connection:
        """Return the profile's gateway URL and token.

        A preset's gateway URL comes from the policy unless the user may change it
        and has. Raises :class:`KeyringError` when the keyring fails.
        """
        stored = self.secrets.load(name)
        preset = self.policy.profile(name)
        if (
            preset is not None
            and preset.gateway_url
            and (self.is_locked("gateway_url", name) or not stored.gateway_url)
        ):
            return Connection(preset.gateway_url, stored.token)
        return stored

    def gateway(self, name: str) -> GatewayUrl:
        """Return the profile's validated gateway URL.

        Raises:
            SetupError: The profile has no gateway URL, or an invalid one.
        """
        url = self.connection(name).gateway_url
        if not url:
            raise SetupError(
                f"Profile {name!r} has no gateway URL. Set one in Settings or with "
                f"`plan-runner profile add {name} --gateway URL`."
            )
        try:
            return parse_gateway_url(url)
        except InputError as error:
            raise SetupError(
                f"Profile {name!r} has an invalid gateway URL: {error}"
            ) from None

    def token_origin_change(
        self, name: str, gateway_url: str
    ) -> tuple[str, str] | None:
        """Say whether a new gateway URL would take the stored token elsewhere.

        A token belongs to the environment it was issued for; a profile whose
        gateway moves to another origin (scheme, host and port) would send it
        there.

        Returns:
            ``(old origin, new origin)`` when the profile has a token and
            ``gateway_url`` leads to another origin than the stored one; else
            None (also when nothing is stored or the keyring fails).

        Raises:
            InputError: ``gateway_url`` is not a valid gateway URL.
        """
        parse_gateway_url(gateway_url)
        try:
            stored = self.connection(name)
        except KeyringError:
            return None
        return origin_change(stored, gateway_url)

    def save_profile(
        self,
        profile: Profile,
        *,
        gateway_url: str | None = None,
        token: str | None = None,
        replace_name: str | None = None,
        new: bool = False,
        drop_token: bool = False,
    ) -> None:
        """Add or update a profile; its URL and token go to the secret store.

        ``gateway_url`` and ``token`` are validated first; None keeps what is
        stored, unless ``drop_token`` (the stored token is forgotten, in the
        same all-or-nothing step). ``replace_name`` renames an existing
        profile; ``new`` refuses a name that is taken instead of updating that
        profile.

        Raises:
            InputError: A value is invalid. PolicyLockedError: a locked field
            would change. KeyringError: the secrets could not be saved.
        """
        name = validate_profile_name(profile.name)
        # Checked again as a whole: model_copy(update=...) does not validate.
        profile = build_profile({**profile.model_dump(), "name": name})
        old_name = replace_name or name
        if (new or old_name != name) and any(p.name == name for p in self.profiles()):
            raise InputError(f"A profile called {name!r} exists already.")
        url = parse_gateway_url(gateway_url).base if gateway_url is not None else None
        clean = clean_token(token) if token is not None else None
        self._refuse_locked_changes(old_name, profile, url)

        stored = (
            self.secrets.load(old_name)
            if self.secrets_exist(old_name)
            else Connection()
        )
        connection = Connection(
            gateway_url=url if url is not None else stored.gateway_url,
            token=clean if clean is not None or drop_token else stored.token,
        )
        changes: list[tuple[str, Connection | None]] = []
        before = {old_name: stored}
        if connection != stored or old_name != name:
            changes.append((name, connection))
            if old_name != name:
                before[name] = self._stored_or_empty(name)
                changes.append((old_name, None))

        profiles = [p for p in self.settings.profiles if p.name not in (old_name, name)]
        profiles.append(profile)
        self._commit(
            f"Profile {name!r} was not saved",
            self.settings.model_copy(update={"profiles": profiles}),
            changes,
            before,
        )

    def secrets_exist(self, name: str) -> bool:
        """Whether anything is stored for the profile (errors count as no)."""
        try:
            stored = self.secrets.load(name)
        except KeyringError:
            return False
        return stored != Connection()

    def remove_profile(self, name: str) -> None:
        """Remove a user profile, its URL and its token.

        Raises:
            InputError: There is no such profile. PolicyLockedError: IT presets it.
        """
        if self.is_preset(name):
            check_unlocked(self.policy, "profiles")
        if not any(p.name == name for p in self.profiles()):
            raise InputError(f"There is no profile called {name!r}.")
        profiles = [p for p in self.settings.profiles if p.name != name]
        self._commit(
            f"Profile {name!r} was not removed",
            self.settings.model_copy(update={"profiles": profiles}),
            [(name, None)],
            {},
        )

    def set_token(self, name: str, raw_token: str) -> str:
        """Clean and store the profile's token; return the cleaned token."""
        self.profile(name)
        token = clean_token(raw_token)
        stored = self.secrets.load(name)
        self.secrets.save(name, Connection(stored.gateway_url, token))
        return token

    def clear_token(self, name: str) -> None:
        """Forget the profile's token, keeping its gateway URL."""
        self.profile(name)
        stored = self.secrets.load(name)
        if stored.gateway_url:
            self.secrets.save(name, Connection(stored.gateway_url, None))
        else:
            self.secrets.delete(name)

    def retention(self) -> Retention:
        """Return how much history to keep.

        A retention the policy locks wins; then the user's own; then the
        policy's default; else everything is kept.
        """
        preset = self.policy.retention
        if preset is not None and self.policy.is_locked("retention"):
            return preset
        if self.settings.retention != Retention():
            return self.settings.retention
        return preset or Retention()

    def set_retention(self, retention: Retention) -> None:
        """Store the user's retention.

        Raises:
            PolicyLockedError: The machine policy locks the retention.
        """
        check_unlocked(self.policy, "retention")
        self._save_settings(self.settings.model_copy(update={"retention": retention}))

    def remember_last_profile(self, name: str) -> None:
        """Remember the profile used last, for the next start."""
        if self.settings.last_profile != name:
            self._save_settings(self.settings.model_copy(update={"last_profile": name}))

    def client_settings(
        self, profile: Profile, read_timeout: float | None = None
    ) -> ClientSettings:
        """Return how to connect for ``profile``: its timeout, proxy and extra CA."""
        extra_ca = (
            profile.extra_ca_file
            or self.policy.extra_ca_file
            or self.settings.extra_ca_file
        )
        if self.policy.is_locked("extra_ca_file") and self.policy.extra_ca_file:
            extra_ca = self.policy.extra_ca_file
        proxy = profile.proxy or self.policy.proxy or self.settings.proxy
        if self.policy.is_locked("proxy") and self.policy.proxy:
            proxy = self.policy.proxy
        return ClientSettings(
            read_timeout=read_timeout or profile.read_timeout,
            extra_ca_file=Path(extra_ca).expanduser() if extra_ca else None,
            proxy=proxy or None,
        )

    def run_request(
        self,
        name: str,
        plan_id: int,
        user_id: int,
        *,
        token: str | None = None,
        read_timeout: float | None = None,
    ) -> RunRequest:
        """Prepare a run on the profile called ``name``.

        ``token`` overrides the stored one (``PLAN_RUNNER_TOKEN`` in CI jobs).

        Raises:
            SetupError: No gateway URL or no token. KeyringError: the keyring failed.
        """
        profile = self.profile(name)
        gateway = self.gateway(name)
        if token is None:
            token = self.connection(name).token
        if not token:
            raise SetupError(
                f"No token is stored for profile {name!r}. Set one in Settings, or "
                f"run `plan-runner token set --profile {name}` and paste it."
            )
        return RunRequest(
            plan_id=plan_id,
            user_id=user_id,
            gateway=gateway,
            token=token,
            profile=name,
            client=self.client_settings(profile, read_timeout),
            allow_plain_http=profile.allow_plain_http,
            plan_name=_catalogue_name(profile.plans, plan_id),
            user_name=_catalogue_name(profile.users, user_id),
        )

    def _refuse_locked_changes(
        self, name: str, profile: Profile, url: str | None
    ) -> None:
        preset = self.policy.profile(name)
        if preset is None:
            return
        if (
            url is not None
            and preset.gateway_url
            and not _same_gateway(url, preset.gateway_url)
        ):
            check_unlocked(self.policy, "gateway_url", name)
        current = next(p for p in self.profiles() if p.name == name)
        for field in Profile.model_fields:
            if getattr(current, field) != getattr(profile, field):
                check_unlocked(self.policy, field, name)

    def _save_settings(self, settings: Settings) -> None:
        self.settings_store.save(settings)
        self.settings = settings

    def _stored_or_empty(self, name: str) -> Connection:
        try:
            return self.secrets.load(name)
        except KeyringError:
            return Connection()

    def _commit(
        self,
        failure: str,
        settings: Settings,
        changes: list[tuple[str, Connection | None]],
        before: dict[str, Connection],
    ) -> None:
        """Save ``settings``, then apply keyring ``changes``; all of it or none.

        The settings file goes first because it is the easier one to undo: it is
        written atomically by this process, and putting back what was there is
        the same write again, with nothing to unlock and nothing to time out.
        A keyring change that fails has the keyring changes before it undone
        (from ``before``, what each entry held) and the settings put back.

        Args:
            failure: How the error begins, such as "Profile 'a' was not saved".
            settings: The settings to save.
            changes: ``(profile, connection)`` to store, in order; None deletes.
            before: What each changed entry held before (missing: nothing).

        Raises:
            ConfigError: The settings could not be written; nothing was changed.
            KeyringError: The keyring failed; the message says whether
                everything was put back as it was.
        """
        try:
            self.settings_store.save(settings)
        except ConfigError as error:
            raise ConfigError(f"{failure}: {error} Nothing was changed.") from None
        done: list[str] = []
        try:
            for name, connection in changes:
                if connection is None:
                    self.secrets.delete(name)
                else:
                    self.secrets.save(name, connection)
                done.append(name)
        except KeyringError as error:
            left = self._undo(done, before)
            if left:
                raise KeyringError(
                    f"{failure}: {error} Putting things back as they were failed "
                    f"too: {' '.join(left)} Check the profile in Settings."
                ) from None
            raise KeyringError(f"{failure}: {error} Nothing was changed.") from None
        self.settings = settings

    def _undo(self, done: list[str], before: dict[str, Connection]) -> list[str]:
        """Put back the keyring entries in ``done`` and the settings file.

        Returns:
            What could not be put back, one sentence each; empty when all was.
        """
        left = []
        for name in reversed(done):
            previous = before.get(name, Connection())
            try:
                if previous == Connection():
                    self.secrets.delete(name)
                else:
                    self.secrets.save(name, previous)
            except KeyringError as error:
                log.warning("Could not restore the keyring entry of %r", name)
                left.append(
                    f"The keyring entry of {name!r} was not restored ({error})."
                )
        try:
            self.settings_store.save(self.settings)
        except ConfigError as error:
            log.warning("Could not restore the settings file")
            left.append(f"The settings file was not restored ({error}).")
        return left


def _catalogue_name(entries: list[CatalogueEntry], entry_id: int) -> str | None:
    return next((e.name for e in entries if e.id == entry_id and e.name), None)


def origin_change(stored: Connection, gateway_url: str) -> tuple[str, str] | None:
    """Return ``(old origin, new origin)`` when ``stored``'s token would move.

    None when nothing would move: no token or no URL is stored, the origin
    (scheme, host and port) stays the same, or ``gateway_url`` is not valid.
    """
    if not stored.token or not stored.gateway_url:
        return None
    try:
        new = parse_gateway_url(gateway_url).origin
    except InputError:
        return None
    old = _origin(stored.gateway_url)
    return (old, new) if old != new else None


def _origin(url: str) -> str:
    try:
        return parse_gateway_url(url).origin
    except InputError:
        return url


def _same_gateway(url: str, other: str) -> bool:
    """Whether two gateway URLs lead to the same place, however they are written."""
    from urllib.parse import urlsplit  # noqa: PLC0415

    try:
        first, second = parse_gateway_url(url), parse_gateway_url(other)
    except InputError:
        return url == other
    return (first.origin, urlsplit(first.base).path) == (
        second.origin,
        urlsplit(second.base).path,
    )
