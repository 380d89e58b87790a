"""Profiles through the workspace: secrets in the keyring, preferences in the file."""

import json

import httpx
import pytest

from app.core.errors import InputError, PolicyLockedError, SetupError
from app.core.http import build_client
from app.core.outcome import Category
from app.core.paths import AppPaths
from app.core.runner import Runner
from app.core.settings import Policy, Profile, SettingsStore
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
