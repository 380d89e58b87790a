"""The workspace: the user's profiles, their secrets and IT's policy, together.

Both faces (GUI and command line) manage profiles and prepare runs through this
one class, so a rule such as "a locked field is refused" lives in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
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
        self._store_profile(
            name,
            lambda _current: profile,
            gateway_url=gateway_url,
            token=token,
            replace_name=replace_name,
            new=new,
            drop_token=drop_token,
        )

    def update_profile(
        self,
        name: str,
        updates: dict[str, object],
        *,
        gateway_url: str | None = None,
    ) -> bool:
        """Add a profile, or change only the given fields of the one saved.

        The fields not in ``updates`` keep what the settings file holds when the
        change is made, even when another Plan Runner changed them meanwhile.

        Returns:
            Whether the profile existed already.

        Raises:
            InputError: A value is invalid. PolicyLockedError: a locked field
            would change. ConfigError, KeyringError: as :meth:`save_profile`.
        """
        name = validate_profile_name(name)
        build_profile({**updates, "name": name})  # refuse bad values up front
        existed = False

        def edit(current: Profile | None) -> Profile:
            nonlocal existed
            existed = current is not None
            base = current.model_dump() if current is not None else {}
            return build_profile({**base, **updates, "name": name})

        self._store_profile(name, edit, gateway_url=gateway_url)
        return existed

    def _store_profile(
        self,
        name: str,
        edit: Callable[[Profile | None], Profile],
        *,
        gateway_url: str | None = None,
        token: str | None = None,
        replace_name: str | None = None,
        new: bool = False,
        drop_token: bool = False,
    ) -> None:
        """Save the profile ``edit`` makes of the one on disk, and its secrets.

        ``edit`` gets the profile as the settings file holds it when the change
        is made (None when there is none) and runs under the settings lock, as
        does the check that a new name is free.
        """
        old_name = replace_name or name
        renamed = old_name != name
        url = parse_gateway_url(gateway_url).base if gateway_url is not None else None
        clean = clean_token(token) if token is not None else None

        # The keyring is read before the settings are locked: it may take
        # seconds to answer, and other Plan Runners wait for the lock.
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
        if connection != stored or renamed:
            changes.append((name, connection))
            if renamed:
                before[name] = self._stored_or_empty(name)
                changes.append((old_name, None))

        def change(settings: Settings) -> Settings:
            profiles = effective_profiles(settings, self.policy)
            if (new or renamed) and _named(profiles, name) is not None:
                raise InputError(f"A profile called {name!r} exists already.")
            current = _named(profiles, old_name)
            profile = edit(current)
            self._refuse_locked_changes(old_name, profile, url, current)
            kept = _replaced(settings.profiles, (old_name, name), profile)
            return settings.model_copy(update={"profiles": kept})

        self._commit(
            f"Profile {name!r} was not saved",
            change,
            (old_name, name),
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

        def change(settings: Settings) -> Settings:
            if _named(effective_profiles(settings, self.policy), name) is None:
                raise InputError(f"There is no profile called {name!r}.")
            profiles = [p for p in settings.profiles if p.name != name]
            return settings.model_copy(update={"profiles": profiles})

        self._commit(
            f"Profile {name!r} was not removed",
            change,
            (name,),
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
        self._change_settings(
            lambda settings: settings.model_copy(update={"retention": retention})
        )

    def remember_last_profile(self, name: str) -> None:
        """Remember the profile used last, for the next start."""
        if self.settings.last_profile == name:
            # Nothing to say: the file is not locked and read again for each run.
            # (Had another window picked another profile since, its choice stands.)
            return
        self._change_settings(
            lambda settings: (
                settings
                if settings.last_profile == name
                else settings.model_copy(update={"last_profile": name})
            )
        )

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
            SetupError: No gateway URL or no token. KeyringError: the keyring
            failed, or the token it holds cannot be sent.
        """
        profile = self.profile(name)
        gateway = self.gateway(name)
        if token is None:
            token = self.connection(name).token
            if token:
                token = _sendable_stored_token(name, token)
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
        self, name: str, profile: Profile, url: str | None, current: Profile | None
    ) -> None:
        preset = self.policy.profile(name)
        if preset is None or current is None:
            return
        if (
            url is not None
            and preset.gateway_url
            and not _same_gateway(url, preset.gateway_url)
        ):
            check_unlocked(self.policy, "gateway_url", name)
        for field in Profile.model_fields:
            if getattr(current, field) != getattr(profile, field):
                check_unlocked(self.policy, field, name)

    def _change_settings(self, change: Callable[[Settings], Settings]) -> None:
        """Apply ``change`` to the settings file as it is now, and keep the result.

        The settings in memory may be old (the app keeps them for hours, and a
        command may have added a profile since), so the change is made to the
        file's fresh content under its lock, never by writing memory over it.
        """
        self.settings = self.settings_store.update(change, fallback=self.settings)

    def _stored_or_empty(self, name: str) -> Connection:
        try:
            return self.secrets.load(name)
        except KeyringError:
            return Connection()

    def _commit(
        self,
        failure: str,
        change: Callable[[Settings], Settings],
        names: tuple[str, ...],
        changes: list[tuple[str, Connection | None]],
        before: dict[str, Connection],
    ) -> None:
        """Change the settings, then apply keyring ``changes``; all of it or none.

        The settings file goes first because it is the easier one to undo: it is
        changed by this process under its lock, and putting back what was there
        is the same kind of change again, with no keyring to unlock and nothing
        to time out. A keyring change that fails has the keyring changes before
        it undone (from ``before``, what each entry held) and the profiles in
        ``names`` put back as the file held them, leaving the rest of the file
        (changed meanwhile, perhaps, by another Plan Runner) as it is.

        Args:
            failure: How the error begins, such as "Profile 'a' was not saved".
            change: Makes the new settings of the file's fresh content; it runs
                under the settings lock and may raise to refuse.
            names: The profiles that ``change`` adds, replaces or removes.
            changes: ``(profile, connection)`` to store, in order; None deletes.
            before: What each changed entry held before (missing: nothing).

        Raises:
            ConfigError: The settings could not be written; nothing was changed.
            KeyringError: The keyring failed; the message says whether
                everything was put back as it was.
        """
        earlier: list[tuple[int, Profile]] = []

        def remembering(settings: Settings) -> Settings:
            earlier[:] = [
                (index, profile)
                for index, profile in enumerate(settings.profiles)
                if profile.name in names
            ]
            return change(settings)

        try:
            self._change_settings(remembering)
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
            left = self._undo(done, before, names, earlier)
            if left:
                raise KeyringError(
                    f"{failure}: {error} Putting things back as they were failed "
                    f"too: {' '.join(left)} Check the profile in Settings."
                ) from None
            raise KeyringError(f"{failure}: {_put_back(str(error))}") from None

    def _undo(
        self,
        done: list[str],
        before: dict[str, Connection],
        names: tuple[str, ...],
        earlier: list[tuple[int, Profile]],
    ) -> list[str]:
        """Put back the keyring entries in ``done`` and the profiles in ``names``.

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

        def put_back(settings: Settings) -> Settings:
            profiles = [p for p in settings.profiles if p.name not in names]
            for index, profile in earlier:
                profiles.insert(min(index, len(profiles)), profile)
            return settings.model_copy(update={"profiles": profiles})

        try:
            self._change_settings(put_back)
        except ConfigError as error:
            log.warning("Could not restore the settings file")
            left.append(f"The settings file was not restored ({error}).")
            # Shown as it should be, so the person can check the profile and
            # save or remove it again.
            self.settings = put_back(self.settings)
        return left


def _named(profiles: Sequence[Profile], name: str) -> Profile | None:
    return next((p for p in profiles if p.name == name), None)


def _replaced(
    profiles: list[Profile], names: tuple[str, ...], profile: Profile
) -> list[Profile]:
    """Return ``profiles`` with ``profile`` in the place of those called ``names``.

    A profile that is edited or renamed keeps its place in the list; a new one
    goes last.
    """
    result: list[Profile] = []
    placed = False
    for existing in profiles:
        if existing.name not in names:
            result.append(existing)
        elif not placed:
            result.append(profile)
            placed = True
    if not placed:
        result.append(profile)
    return result


_NOTHING_DONE = ("Nothing was changed.", "Nothing was saved.", "Nothing was removed.")


def _put_back(keyring_problem: str) -> str:
    """Say, once, what a failed change left behind once everything was put back.

    The keyring's own message may say already that it changed nothing, or that
    an unanswered request may or may not have been carried out; the settings
    were put back either way.
    """
    if "may or may not have been" in keyring_problem:
        return f"{keyring_problem} The profile's settings were put back as they were."
    if any(sentence in keyring_problem for sentence in _NOTHING_DONE):
        return keyring_problem
    return f"{keyring_problem} Nothing was changed."


def _sendable_stored_token(name: str, token: str) -> str:
    """Return the keyring's token as it may be sent, cleaned as a pasted one is.

    Another tool, or an older Plan Runner, may have stored it with spaces, a
    line break, quotes or a ``Bearer`` prefix around it.

    Raises:
        KeyringError: What is left still cannot be a bearer token; the message
            says where, never what.
    """
    try:
        return clean_token(token)
    except InputError as error:
        raise KeyringError(
            f"The token stored for profile {name!r} is malformed, so no request "
            f"was sent: {error} Set it again with `plan-runner token set "
            f"--profile {name}` (or in Settings)."
        ) from None


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
