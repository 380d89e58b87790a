"""Settings files: versioned, migrated, never destroyed, never holding secrets."""

import errno
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.core import settings as settings_module
from app.core.errors import ConfigError, PolicyLockedError
from app.core.settings import (
    MAX_FILE_BYTES,
    SCHEMA_VERSION,
    Policy,
    Profile,
    Settings,
    SettingsStore,
    check_unlocked,
    effective_profiles,
    load_policy,
)


def _files(folder: Path) -> list[Path]:
    """The files of ``folder`` but the settings lock, which is empty and stays."""
    return [p for p in folder.iterdir() if p.name != "settings.json.lock"]


def test_a_missing_file_gives_defaults(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    assert store.load() == Settings()
    assert store.load_problem is None


def test_settings_round_trip_with_large_ids(tmp_path):
    store = SettingsStore(tmp_path / "cfg" / "settings.json")
    profile = Profile(
        name="prod", default_user=2**63 - 1, read_timeout=12, critical=True
    )
    store.save(Settings(profiles=[profile]))
    loaded = store.load()
    assert loaded.profiles == [profile]
    assert json.loads(store.path.read_text())["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"profiles": [{"name": ""}]}', "invalid values"),
        ('{"profiles": [{"name": "a", "read_timeout": "soon"}]}', "invalid values"),
        ('{"profiles": "x"}', "invalid values"),
        ('{"schema_version": "one"}', "invalid schema_version"),
    ],
)
def test_an_unreadable_file_is_kept_aside_and_explained(tmp_path, content, why):
    path = tmp_path / "settings.json"
    path.write_text(content)
    store = SettingsStore(path)
    assert store.load() == Settings()
    assert why in (store.load_problem or store.read_only_reason or "")
    kept = list(tmp_path.glob("settings.json.bad-*"))
    if store.read_only_reason is None:
        assert [p.read_text() for p in kept] == [content]


def test_a_file_from_a_newer_version_is_left_untouched(tmp_path):
    path = tmp_path / "settings.json"
    original = json.dumps({"schema_version": SCHEMA_VERSION + 1, "profiles": []})
    path.write_text(original)
    store = SettingsStore(path)
    store.load()
    assert "newer Plan Runner" in store.load_problem
    with pytest.raises(ConfigError, match="newer"):
        store.save(Settings())
    assert path.read_text() == original


def test_a_version_0_file_is_migrated_after_a_backup(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"profiles": [{"name": "old"}]}))
    settings = SettingsStore(path).load()
    assert settings.profiles[0].name == "old"
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert len(list(tmp_path.glob("settings.json.pre-migration-*"))) == 1


def test_unknown_fields_in_a_hand_edited_file_are_ignored(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {"schema_version": 1, "profiles": [{"name": "a", "tokn": "x"}], "zz": 1}
        )
    )
    assert SettingsStore(path).load().profiles[0].name == "a"


def test_policy_presets_come_first_and_locked_fields_win():
    policy = Policy(
        profiles=[
            {
                "name": "prod",
                "gateway_url": "https://gw",
                "read_timeout": 10,
                "critical": True,
            }
        ],
        locked=["profiles.critical"],
    )
    settings = Settings(
        profiles=[
            Profile(name="prod", read_timeout=50, critical=False),
            Profile(name="mine"),
        ]
    )
    profiles = effective_profiles(settings, policy)
    assert [p.name for p in profiles] == ["prod", "mine"]
    assert profiles[0].critical is True  # locked: the policy wins
    assert profiles[0].read_timeout == 50  # not locked: the user's choice stays


def test_locked_fields_are_refused_with_a_reason():
    policy = Policy(profiles=[{"name": "prod"}], locked=["profiles", "proxy"])
    with pytest.raises(PolicyLockedError, match="IT department"):
        check_unlocked(policy, "read_timeout", "prod")
    with pytest.raises(PolicyLockedError):
        check_unlocked(policy, "proxy")
    check_unlocked(policy, "read_timeout", "mine")  # not a preset: free


@pytest.mark.parametrize(
    ("content", "problem"),
    [("{", "invalid"), ('{"profiles": 3}', "invalid"), ("[]", "invalid")],
)
def test_a_broken_policy_is_reported_and_ignored(tmp_path, content, problem):
    path = tmp_path / "policy.json"
    path.write_text(content)
    policy, message = load_policy(path)
    assert policy == Policy()
    assert problem in message


# Damaged files ---------------------------------------------------------------------

HUGE = object()  # stands for a file just over the size limit, made sparse


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"garbage{", "is not valid JSON"),
        (b"", "is empty"),
        (b"  \n", "is empty"),
        (b"[1, 2]", "holds a list"),
        (b'"settings"', "holds a string"),
        (b"\xff\xfe{\x00}\x00", "is not UTF-8 text"),
        (b'{"profiles": [{"name": "a", "default_user": "7"}]}', "invalid values"),
        (b'{"retention": {"keep_days": -1}}', "invalid values"),
        (b'{"schema_version": true}', "invalid schema_version"),
        (HUGE, "too large"),
    ],
)
def test_a_damaged_file_is_moved_aside_once_and_later_starts_are_quiet(
    tmp_path, content, why
):
    path = tmp_path / "settings.json"
    if content is HUGE:
        with path.open("wb") as stream:
            stream.truncate(MAX_FILE_BYTES + 1)
    else:
        path.write_bytes(content)
    path.chmod(0o644)
    original = path.read_bytes()

    first = SettingsStore(path)
    assert first.load() == Settings()
    [kept] = tmp_path.glob("settings.json.bad-*")
    assert why in first.load_problem
    assert "started with default settings" in first.load_problem
    assert f"It was kept as {kept.name} in the same folder" in first.load_problem
    assert kept.read_bytes() == original
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert not path.exists()
    assert first.read_only_reason is None

    for _ in range(3):
        again = SettingsStore(path)
        assert again.load() == Settings()
        assert again.load_problem is None
    assert sorted(_files(tmp_path)) == [kept]


def test_a_second_damaged_file_in_the_same_second_gets_its_own_backup(tmp_path):
    path = tmp_path / "settings.json"
    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    for content in ("first{", "second{"):
        path.write_text(content)
        SettingsStore(path, clock=lambda: moment).load()
    kept = {p.name: p.read_text() for p in tmp_path.glob("settings.json.bad-*")}
    assert kept == {
        "settings.json.bad-20300102T030405": "first{",
        "settings.json.bad-20300102T030405-2": "second{",
    }


def test_settings_work_after_the_damaged_file_was_moved_aside(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{oops")
    store = SettingsStore(path)
    store.load()
    store.save(Settings(profiles=[Profile(name="fresh")]))
    again = SettingsStore(path)
    assert [p.name for p in again.load().profiles] == ["fresh"]
    assert again.load_problem is None


def test_a_damaged_file_that_cannot_be_moved_is_neither_copied_nor_overwritten(
    tmp_path, monkeypatch
):
    path = tmp_path / "settings.json"
    path.write_text("{oops")

    def refuse(source, target):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "replace", refuse)
    for _ in range(2):
        store = SettingsStore(path)
        assert store.load() == Settings()
        assert "could not be moved aside (Read-only file system)" in (
            store.load_problem
        )
        with pytest.raises(ConfigError, match="not saved over it"):
            store.save(Settings(profiles=[Profile(name="new")]))
    assert path.read_text() == "{oops"
    assert [p.name for p in _files(tmp_path)] == ["settings.json"]


def test_a_file_that_cannot_be_opened_stays_and_is_not_overwritten(
    tmp_path, monkeypatch
):
    # Tests run as root, where file permissions do not stop reading.
    path = tmp_path / "settings.json"
    path.write_text('{"schema_version": 1, "profiles": [{"name": "mine"}]}')

    def denied(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "read_text", denied)
    store = SettingsStore(path)
    assert store.load() == Settings()
    assert "cannot be read (Permission denied)" in store.load_problem
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="Permission denied"):
        store.save(Settings())
    assert "mine" in path.read_text()
    assert [p.name for p in _files(tmp_path)] == ["settings.json"]


def test_a_folder_in_place_of_the_settings_file_is_left_alone(tmp_path):
    path = tmp_path / "settings.json"
    path.mkdir()
    store = SettingsStore(path)
    assert store.load() == Settings()
    assert "cannot be read (it is a folder)" in store.load_problem
    with pytest.raises(ConfigError, match="not saved over it"):
        store.save(Settings())
    assert path.is_dir()
    assert [p.name for p in _files(tmp_path)] == ["settings.json"]


def test_a_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "settings.json"
    path.write_bytes(b'\xef\xbb\xbf{"schema_version": 1, "profiles": [{"name": "a"}]}')
    store = SettingsStore(path)
    assert [p.name for p in store.load().profiles] == ["a"]
    assert store.load_problem is None


def test_a_file_from_a_newer_version_is_never_copied_or_moved(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    for _ in range(3):
        store = SettingsStore(path)
        store.load()
        assert "newer Plan Runner" in store.load_problem
    assert [p.name for p in _files(tmp_path)] == ["settings.json"]


def test_an_old_file_that_cannot_be_updated_is_read_and_backed_up_once(
    tmp_path, monkeypatch
):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"profiles": [{"name": "old"}]}))
    path.chmod(0o644)

    def full_disk(target, text):
        raise ConfigError(f"Could not write {target}: No space left on device.")

    monkeypatch.setattr(settings_module, "write_atomically", full_disk)
    for _ in range(3):
        store = SettingsStore(path)
        assert [p.name for p in store.load().profiles] == ["old"]
        assert "could not be updated" in store.load_problem
        assert "No space left on device" in store.load_problem
    [kept] = tmp_path.glob("settings.json.pre-migration-*")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "content",
    [b"", b"[]", b"\xff\xfe", b'{"locked": "profiles"}', b'{"profiles": [3]}'],
)
def test_a_broken_policy_is_ignored_with_one_message_and_left_untouched(
    tmp_path, content
):
    path = tmp_path / "policy.json"
    path.write_bytes(content)
    policy, problem = load_policy(path)
    assert policy == Policy()
    assert problem.startswith(f"The machine policy {path} is invalid (")
    assert problem.endswith("; it is ignored.")
    assert [p.name for p in tmp_path.iterdir()] == ["policy.json"]
    assert path.read_bytes() == content


def test_a_policy_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "policy.json"
    path.write_bytes(b'\xef\xbb\xbf{"locked": ["proxy"]}')
    policy, problem = load_policy(path)
    assert problem is None
    assert policy.locked == ["proxy"]
