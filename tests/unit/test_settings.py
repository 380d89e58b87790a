"""Settings files: versioned, migrated, never destroyed, never holding secrets."""

import json

import pytest

from app.core.errors import ConfigError, PolicyLockedError
from app.core.settings import (
    SCHEMA_VERSION,
    Policy,
    Profile,
    Settings,
    SettingsStore,
    check_unlocked,
    effective_profiles,
    load_policy,
)


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
