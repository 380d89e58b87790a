"""Profiles through the workspace: secrets in the keyring, preferences in the file."""

import json

import httpx
import pytest

from app.core.errors import (
    ConfigError,
    HistoryError,
    InputError,
    KeyringError,
    PolicyLockedError,
    SetupError,
)
from app.core.http import build_client
from app.core.outcome import Category
from app.core.paths import AppPaths
from app.core.runner import Runner
from app.core.secrets import Connection
from app.core.settings import Policy, Profile, Settings, SettingsStore
from app.core.workspace import Workspace

TOKEN = "unit-token-abcdef"


@pytest.fixture
def workspace(tmp_path, keyring_store, redactor):
    paths = AppPaths.from_environment(
        {
            "PLAN_RUNNER_HOME": str(tmp_path),
            "PLAN_RUNNER_POLICY": str(tmp_path / "policy.json"),
        }
    )
    return Workspace.open(paths, redactor, keyring_store)


def test_a_profile_keeps_url_and_token_in_the_keyring_only(workspace, memory_keyring):
    workspace.save_profile(
        Profile(name="stage", default_user=7),
        gateway_url="https://gw.example.test/api/",
        token=f"Bearer {TOKEN}\n",
    )
    entry = json.loads(memory_keyring.entries[("plan-runner", "stage")])
    assert entry == {"gateway_url": "https://gw.example.test/api", "token": TOKEN}
    text = workspace.settings_store.path.read_text()
    assert TOKEN not in text
    assert "gw.example.test" not in text
    assert workspace.gateway("stage").queue_url == "https://gw.example.test/api/queue"


def test_renaming_a_profile_moves_its_secrets(workspace, memory_keyring):
    workspace.save_profile(Profile(name="a"), gateway_url="https://gw", token=TOKEN)
    workspace.save_profile(Profile(name="b"), replace_name="a")
    assert ("plan-runner", "a") not in memory_keyring.entries
    assert workspace.connection("b").token == TOKEN
    assert [p.name for p in workspace.profiles()] == ["b"]


def test_invalid_values_are_refused_before_anything_is_stored(
    workspace, memory_keyring
):
    with pytest.raises(InputError, match="scheme"):
        workspace.save_profile(
            Profile(name="x"), gateway_url="gw.example.test", token=TOKEN
        )
    with pytest.raises(InputError, match="space"):
        workspace.save_profile(Profile(name="x"), gateway_url="https://gw", token="a b")
    assert memory_keyring.entries == {}
    assert workspace.profiles() == []


def test_a_run_request_needs_a_token(workspace):
    workspace.save_profile(Profile(name="p"), gateway_url="https://gw")
    with pytest.raises(SetupError, match="No token is stored"):
        workspace.run_request("p", 1, 1)
    workspace.set_token("p", TOKEN)
    request = workspace.run_request("p", 681, 1)
    assert request.token == TOKEN
    assert request.gateway.queue_url == "https://gw/queue"


def test_removing_a_profile_removes_its_secrets(workspace, memory_keyring):
    workspace.save_profile(Profile(name="p"), gateway_url="https://gw", token=TOKEN)
    workspace.remove_profile("p")
    assert memory_keyring.entries == {}
    with pytest.raises(InputError):
        workspace.profile("p")


def test_a_locked_preset_cannot_be_changed_or_removed(
    tmp_path, keyring_store, redactor
):
    policy = Policy(
        profiles=[{"name": "prod", "gateway_url": "https://gw.prod"}],
        locked=["profiles"],
    )
    workspace = Workspace(
        SettingsStore(tmp_path / "s.json"), keyring_store, policy, redactor
    )
    assert workspace.gateway("prod").host == "gw.prod"
    with pytest.raises(PolicyLockedError):
        workspace.save_profile(Profile(name="prod"), gateway_url="https://elsewhere")
    with pytest.raises(PolicyLockedError):
        workspace.save_profile(Profile(name="prod"), gateway_url="https://gw.prod/v2")
    # The preset's own URL, written another way, is no change.
    for same in ("https://GW.prod:443/", "https://gw.prod./"):
        workspace.save_profile(Profile(name="prod"), gateway_url=same)
    with pytest.raises(PolicyLockedError):
        workspace.save_profile(Profile(name="prod", read_timeout=99))
    with pytest.raises(PolicyLockedError):
        workspace.remove_profile("prod")
    workspace.set_token("prod", TOKEN)  # the token stays the user's own
    assert workspace.connection("prod").token == TOKEN
    assert workspace.connection("prod").gateway_url == "https://gw.prod"


def test_a_failed_history_write_never_changes_the_outcome(workspace, redactor):
    workspace.save_profile(Profile(name="p"), gateway_url="https://gw", token=TOKEN)

    class BrokenHistory:
        def record(self, outcome, **names):
            raise OSError("disk full")

    def answer(request):
        return httpx.Response(
            200, json={"data": None, "result": {"code": 0, "message": "success"}}
        )

    runner = Runner(
        redactor,
        history=BrokenHistory(),
        client_factory=lambda settings, canceller: build_client(
            settings, canceller, transport=httpx.MockTransport(answer)
        ),
    )
    result = runner.run(workspace.run_request("p", 681, 1))
    assert result.outcome.category is Category.QUEUED
    assert "disk full" in result.history_problem


def test_a_history_error_is_reported_in_its_own_words_once(workspace, redactor):
    workspace.save_profile(Profile(name="p"), gateway_url="https://gw", token=TOKEN)
    said = "Could not save the run in the history: another program has it open."

    class LockedHistory:
        def record(self, outcome, **names):
            raise HistoryError(said)

    runner = Runner(
        redactor,
        history=LockedHistory(),
        client_factory=lambda settings, canceller: build_client(
            settings,
            canceller,
            transport=httpx.MockTransport(
                lambda request: httpx.Response(
                    200, json={"data": None, "result": {"code": 0, "message": "ok"}}
                )
            ),
        ),
    )
    result = runner.run(workspace.run_request("p", 681, 1))
    assert result.history_problem == said


def test_plain_http_to_a_remote_host_is_refused_without_consent(workspace, redactor):
    workspace.save_profile(
        Profile(name="p"), gateway_url="http://gw.example.test", token=TOKEN
    )
    sent = []
    runner = Runner(
        redactor,
        client_factory=lambda s, c: build_client(
            s, c, transport=httpx.MockTransport(sent.append)
        ),
    )
    with pytest.raises(SetupError, match="unencrypted"):
        runner.run(workspace.run_request("p", 1, 1))
    assert sent == []
    workspace.save_profile(Profile(name="p", allow_plain_http=True))
    assert workspace.run_request("p", 1, 1).allow_plain_http


def test_retention_precedence_locked_policy_then_user_then_policy_default(
    tmp_path, keyring_store, redactor
):
    from app.core.settings import Retention

    store = SettingsStore(tmp_path / "s.json")
    default = Policy(retention={"keep_days": 30})
    workspace = Workspace(store, keyring_store, default, redactor)
    assert workspace.retention() == Retention(keep_days=30)
    workspace.set_retention(Retention(keep_runs=5))
    assert workspace.retention() == Retention(keep_runs=5)

    locked = Policy(retention={"keep_days": 7}, locked=["retention"])
    workspace = Workspace(store, keyring_store, locked, redactor)
    assert workspace.retention() == Retention(keep_days=7)
    with pytest.raises(PolicyLockedError):
        workspace.set_retention(Retention(keep_runs=1))


def test_the_runner_prunes_the_history_after_recording(workspace, redactor, tmp_path):
    from app.core.history import HistoryFilter, HistoryStore
    from app.core.settings import Retention

    workspace.save_profile(Profile(name="p"), gateway_url="https://gw", token=TOKEN)
    workspace.set_retention(Retention(keep_runs=2))

    def answer(request):
        return httpx.Response(200, json={"data": None, "result": {"code": 0}})

    with HistoryStore.open(tmp_path / "h.sqlite3") as history:
        runner = Runner(
            redactor,
            history=history,
            retention=workspace.retention,
            client_factory=lambda s, c: build_client(
                s, c, transport=httpx.MockTransport(answer)
            ),
        )
        for plan in (1, 2, 3, 4):
            runner.run(workspace.run_request("p", plan, 1))
        rows = history.page(HistoryFilter(), limit=10)
    assert [row.plan_id for row in rows] == [4, 3]


# Changes that fail halfway ---------------------------------------------------------


@pytest.fixture
def failing(memory_keyring, monkeypatch):
    """The keyring changes that fail: ("save" or "delete", profile name or "*")."""
    refused: set[tuple[str, str]] = set()
    real_set = memory_keyring.set_password
    real_delete = memory_keyring.delete_password

    def check(kind, profile):
        if {(kind, profile), (kind, "*")} & refused:
            raise RuntimeError("the keyring is locked")

    def set_password(service, username, password):
        check("save", username)
        real_set(service, username, password)

    def delete_password(service, username):
        check("delete", username)
        real_delete(service, username)

    monkeypatch.setattr(memory_keyring, "set_password", set_password)
    monkeypatch.setattr(memory_keyring, "delete_password", delete_password)
    return refused


def _unwritable(workspace, tmp_path):
    """Point the workspace's settings at a path that cannot be written."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    workspace.settings_store.path = blocker / "settings.json"


def test_a_rename_whose_settings_write_fails_leaves_the_keyring_as_it_was(
    workspace, memory_keyring, tmp_path
):
    workspace.save_profile(Profile(name="a"), gateway_url="https://gw", token=TOKEN)
    keyring_before = dict(memory_keyring.entries)
    _unwritable(workspace, tmp_path)
    with pytest.raises(ConfigError) as raised:
        workspace.save_profile(Profile(name="b"), replace_name="a")
    assert str(raised.value).startswith("Profile 'b' was not saved: Could not write")
    assert str(raised.value).endswith("Nothing was changed.")
    assert memory_keyring.entries == keyring_before
    assert [p.name for p in workspace.profiles()] == ["a"]
    assert workspace.connection("a").token == TOKEN


@pytest.mark.parametrize(
    "change",
    [
        {"gateway_url": "https://elsewhere"},
        {"token": "another-token-123456"},
        {"gateway_url": "https://elsewhere", "token": "another-token-123456"},
        {"gateway_url": "https://elsewhere", "drop_token": True},
    ],
)
def test_a_url_or_token_change_whose_settings_write_fails_is_not_kept(
    workspace, memory_keyring, tmp_path, change
):
    workspace.save_profile(Profile(name="a"), gateway_url="https://gw", token=TOKEN)
    keyring_before = dict(memory_keyring.entries)
    _unwritable(workspace, tmp_path)
    with pytest.raises(ConfigError, match="Nothing was changed"):
        workspace.save_profile(Profile(name="a", read_timeout=9), **change)
    assert memory_keyring.entries == keyring_before
    assert workspace.profile("a").read_timeout != 9


def test_a_new_url_can_drop_the_token_in_the_same_step(workspace):
    workspace.save_profile(Profile(name="a"), gateway_url="https://gw", token=TOKEN)
    workspace.save_profile(
        Profile(name="b"),
        gateway_url="https://elsewhere",
        replace_name="a",
        drop_token=True,
    )
    assert workspace.connection("b") == Connection("https://elsewhere", None)
    assert workspace.secrets.load("a") == Connection()


def test_a_new_profile_whose_settings_write_fails_leaves_no_secret_behind(
    workspace, memory_keyring, tmp_path
):
    _unwritable(workspace, tmp_path)
    with pytest.raises(ConfigError, match="Nothing was changed"):
        workspace.save_profile(
            Profile(name="n"), gateway_url="https://gw", token=TOKEN, new=True
        )
    assert memory_keyring.entries == {}
    assert workspace.profiles() == []


def test_a_removal_whose_settings_write_fails_keeps_the_secrets(
    workspace, memory_keyring, tmp_path
):
    workspace.save_profile(Profile(name="a"), gateway_url="https://gw", token=TOKEN)
    keyring_before = dict(memory_keyring.entries)
    _unwritable(workspace, tmp_path)
    with pytest.raises(ConfigError, match="Profile 'a' was not removed"):
        workspace.remove_profile("a")
    assert memory_keyring.entries == keyring_before
    assert workspace.connection("a").token == TOKEN


def test_a_rename_whose_keyring_delete_fails_puts_settings_and_keyring_back(
    workspace, memory_keyring, failing
):
    workspace.save_profile(Profile(name="a"), gateway_url="https://gw", token=TOKEN)
    keyring_before = dict(memory_keyring.entries)
    file_before = workspace.settings_store.path.read_text()
    failing.add(("delete", "a"))
    with pytest.raises(KeyringError) as raised:
        workspace.save_profile(Profile(name="b"), replace_name="a")
    assert "Profile 'b' was not saved" in str(raised.value)
    assert "the keyring is locked" in str(raised.value)
    assert str(raised.value).endswith("Nothing was changed.")
    assert memory_keyring.entries == keyring_before
    assert workspace.settings_store.path.read_text() == file_before
    assert [p.name for p in workspace.profiles()] == ["a"]


def test_a_removal_whose_keyring_delete_fails_puts_the_profile_back(workspace, failing):
    workspace.save_profile(Profile(name="a"), gateway_url="https://gw", token=TOKEN)
    failing.add(("delete", "a"))
    with pytest.raises(KeyringError, match="Profile 'a' was not removed"):
        workspace.remove_profile("a")
    again = SettingsStore(workspace.settings_store.path).load()
    assert [p.name for p in again.profiles] == ["a"]
    assert [p.name for p in workspace.profiles()] == ["a"]
    assert workspace.connection("a").token == TOKEN


def test_a_keyring_that_cannot_be_put_back_is_named_in_the_error(workspace, failing):
    workspace.save_profile(Profile(name="a"), gateway_url="https://gw", token=TOKEN)
    failing.add(("delete", "*"))  # the rename's delete and the undo's
    with pytest.raises(KeyringError) as raised:
        workspace.save_profile(Profile(name="b"), replace_name="a")
    message = str(raised.value)
    assert "Putting things back as they were failed too" in message
    assert "The keyring entry of 'b' was not restored" in message
    assert "Nothing was changed" not in message
    # The settings went back: the profile is still 'a', and its secrets are there.
    assert [p.name for p in workspace.profiles()] == ["a"]
    assert workspace.connection("a").token == TOKEN


def test_settings_that_cannot_be_put_back_are_named_in_the_error(
    workspace, failing, monkeypatch
):
    workspace.save_profile(Profile(name="a"), gateway_url="https://gw", token=TOKEN)
    failing.add(("delete", "*"))
    store = workspace.settings_store
    writes = []
    real_save = store.save

    def save_once(settings):
        if writes:
            raise ConfigError("Could not write settings.json: No space left on device.")
        writes.append(settings)
        real_save(settings)

    monkeypatch.setattr(store, "save", save_once)
    with pytest.raises(KeyringError) as raised:
        workspace.remove_profile("a")
    assert "The settings file was not restored (Could not write" in str(raised.value)
    assert [p.name for p in workspace.profiles()] == ["a"]


def test_a_failed_change_leaves_the_workspace_usable(workspace, tmp_path):
    workspace.save_profile(Profile(name="a"), gateway_url="https://gw", token=TOKEN)
    good_path = workspace.settings_store.path
    _unwritable(workspace, tmp_path)
    with pytest.raises(ConfigError):
        workspace.save_profile(Profile(name="b"), replace_name="a")
    workspace.settings_store.path = good_path
    workspace.save_profile(Profile(name="b"), replace_name="a")
    assert [p.name for p in workspace.profiles()] == ["b"]
    assert workspace.connection("b").token == TOKEN


# Tokens another tool stored ----------------------------------------------------------


def _store_raw_token(memory_keyring, name, token):
    entry = {"gateway_url": "https://gw", "token": token}
    memory_keyring.entries[("plan-runner", name)] = json.dumps(entry)


@pytest.mark.parametrize(
    "stored",
    [
        f"  {TOKEN}  ",
        f"{TOKEN}\n",
        f"\r\n{TOKEN}\r\n",
        f"Bearer {TOKEN}",
        f'"{TOKEN}"',
        f"Authorization: Bearer {TOKEN}\n",
    ],
)
def test_a_stored_token_is_cleaned_before_it_is_sent(workspace, memory_keyring, stored):
    workspace.save_profile(Profile(name="p"), gateway_url="https://gw")
    _store_raw_token(memory_keyring, "p", stored)

    request = workspace.run_request("p", 681, 1)

    assert request.token == TOKEN
    headers = httpx.Request(
        "POST", "https://gw/queue", headers={"Authorization": f"Bearer {request.token}"}
    ).headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ("abcdef\n123456789", "a line break"),
        ("abcdef 123456789", "a space"),
        ("abcdef\x00123456789", "an invisible control character"),
    ],
)
def test_a_stored_token_that_cannot_be_sent_is_a_setup_error_without_the_token(
    workspace, memory_keyring, stored, problem
):
    workspace.save_profile(Profile(name="p"), gateway_url="https://gw")
    _store_raw_token(memory_keyring, "p", stored)

    with pytest.raises(KeyringError) as raised:
        workspace.run_request("p", 681, 1)

    message = str(raised.value)
    assert "The token stored for profile 'p' is malformed" in message
    assert problem in message
    assert "plan-runner token set --profile p" in message
    assert "abcdef" not in message
    assert "123456789" not in message


def test_a_token_given_for_the_run_is_used_as_given(workspace, memory_keyring):
    workspace.save_profile(Profile(name="p"), gateway_url="https://gw")
    _store_raw_token(memory_keyring, "p", "broken stored token")
    request = workspace.run_request("p", 681, 1, token=TOKEN)
    assert request.token == TOKEN


# What a failed change says ----------------------------------------------------------


def test_a_removal_the_keyring_refuses_says_once_that_nothing_changed(
    tmp_path, redactor
):
    from app.core.secrets import UnavailableStore

    store = SettingsStore(tmp_path / "settings.json")
    store.save(Settings(profiles=[Profile(name="a")]))
    stalled = UnavailableStore(redactor, "The keyring did not answer within 10 s.")
    workspace = Workspace(store, stalled, Policy(), redactor)

    with pytest.raises(KeyringError) as raised:
        workspace.remove_profile("a")

    message = str(raised.value)
    assert message.startswith("Profile 'a' was not removed: ")
    assert message.count("Nothing was") == 1, message
    assert [p.name for p in SettingsStore(store.path).load().profiles] == ["a"]


def test_a_removal_the_keyring_may_have_done_does_not_say_nothing_changed(
    workspace, memory_keyring, monkeypatch
):
    workspace.save_profile(Profile(name="a"), gateway_url="https://gw", token=TOKEN)

    def no_answer(name):
        raise KeyringError(
            "The keyring did not answer within 10 s when asked to remove the "
            "token. It may or may not have been removed: remove it again once "
            "the keyring answers."
        )

    monkeypatch.setattr(workspace.secrets, "delete", no_answer)
    with pytest.raises(KeyringError) as raised:
        workspace.remove_profile("a")

    message = str(raised.value)
    assert "Nothing was changed" not in message
    assert message.endswith("The profile's settings were put back as they were.")
    assert [p.name for p in workspace.profiles()] == ["a"]


def test_remembering_the_same_profile_again_leaves_the_file_alone(
    workspace, monkeypatch
):
    workspace.save_profile(Profile(name="p"), gateway_url="https://gw", token=TOKEN)
    workspace.remember_last_profile("p")

    def touched(*_args, **_kwargs):
        raise AssertionError("the settings file was locked and read again")

    monkeypatch.setattr(workspace.settings_store, "update", touched)
    workspace.remember_last_profile("p")  # once a run: no lock, no read
    assert workspace.settings.last_profile == "p"
