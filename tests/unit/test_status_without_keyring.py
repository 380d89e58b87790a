"""The status report when the keyring is missing or does not answer."""

from datetime import UTC, datetime

import pytest

from app.core.diagnostics import status_report
from app.core.paths import AppPaths
from app.core.secrets import SessionStore, UnavailableStore
from app.core.settings import Profile
from app.core.workspace import Workspace

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = "ci-token-0123456789abcdef"
NO_KEYRING = "No keyring is available: start a Secret Service."
NO_ANSWER = "The keyring did not answer within 10 s when Plan Runner looked for it."


@pytest.fixture
def paths(tmp_path):
    return AppPaths.from_environment(
        {
            "PLAN_RUNNER_HOME": str(tmp_path / "home"),
            "PLAN_RUNNER_POLICY": str(tmp_path / "home" / "policy.json"),
        }
    )


def messages(report, severity):
    return [p["message"] for p in report["problems"] if p["severity"] == severity]


@pytest.mark.parametrize("store_type", [SessionStore, UnavailableStore])
def test_an_ad_hoc_gateway_with_a_token_from_the_environment_needs_no_keyring(
    paths, redactor, store_type
):
    workspace = Workspace.open(paths, redactor, store_type(redactor, NO_KEYRING))
    report = status_report(
        workspace,
        None,
        NOW,
        gateway_url="https://gw.example.test/api",
        environment_token=TOKEN,
    )
    assert report["exit_code"] == 0, report["problems"]
    assert report["verdict"] == "ok, with warnings"
    assert any(NO_KEYRING in m for m in messages(report, "warning"))
    assert report["token"]["source"].startswith("the environment variable")


def test_a_profile_still_needs_the_keyring_for_its_gateway_url(
    paths, redactor, keyring_store
):
    Workspace.open(paths, redactor, keyring_store).save_profile(
        Profile(name="stage"), gateway_url="https://gw.example.test/api", token=TOKEN
    )
    store = UnavailableStore(redactor, NO_ANSWER)
    report = status_report(
        Workspace.open(paths, redactor, store),
        "stage",
        NOW,
        environment_token=TOKEN,
    )
    assert report["exit_code"] == 8
    errors = messages(report, "error")
    assert any(NO_ANSWER in m for m in errors)
    assert "so no token can be read or stored" in errors[0]
    # The keyring was not read: nothing may claim the profile lacks a URL.
    assert not any("has no gateway URL" in m for m in errors)
    assert sum(NO_ANSWER in m for m in errors) == 1
