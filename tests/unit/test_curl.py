"""Copy as curl: a shell command that repeats a run, quoted so it means what it says."""

import json
import shlex
import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from app.core.diagnostics import curl_command, curl_for
from app.core.errors import InputError
from app.core.exchange import ClientSettings
from app.core.outcome import Category, Outcome
from app.core.runner import RunRequest
from app.core.urls import parse_gateway_url

MAX_ID = 9223372036854775807
URL = "https://gw.example.test/api/v2/queue"

AWKWARD_URLS = [
    "https://gw.example.test/it's/queue",
    'https://gw.example.test/"quoted"/queue',
    "https://gw.example.test/a b/queue",
    "https://gw.example.test/$(rm -rf /)/queue",
    "https://gw.example.test/`touch pwned`/queue",
    "https://gw.example.test/!event/queue",
    "https://gw.example.test/$HOME/${PATH}/queue",
    "https://gw.example.test/semi;colon&amp|pipe>out<in/queue",
    "https://gw.example.test/back\\slash/queue*?",
    "https://gw.example.test/'\"'\"'/queue",
]


def arguments(command):
    return shlex.split(command)


def expected(url, plan_id, user_id, authorization="Authorization: Bearer $TOKEN"):
    return [
        "curl",
        "--request",
        "POST",
        url,
        "--header",
        "Content-Type: application/json",
        "--header",
        authorization,
        "--data",
        json.dumps({"planId": plan_id, "userId": user_id}),
    ]


def test_the_sample_call_of_the_spec_with_a_token_placeholder():
    command = curl_for(URL, 681, 1)
    assert command == (
        f"curl --request POST {URL} --header 'Content-Type: application/json' "
        '--header "Authorization: Bearer $TOKEN" '
        '--data \'{"planId": 681, "userId": 1}\''
    )
    assert arguments(command) == expected(URL, 681, 1)


@pytest.mark.parametrize("url", AWKWARD_URLS)
def test_awkward_urls_come_back_as_exactly_one_argument(url):
    args = arguments(curl_for(url, 681, 1))
    assert args == expected(url, 681, 1)
    assert args[3] == url


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("url", AWKWARD_URLS)
def test_a_real_shell_sees_the_same_arguments_and_expands_only_token(url, tmp_path):
    command = curl_for(url, MAX_ID, 7)
    # Replace curl by a program that prints each argument it gets, NUL-separated.
    dump = "printf '%s\\0'"
    assert command.startswith("curl ")
    script = dump + command[len("curl") :]
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        env={"TOKEN": "tok-123", "HOME": "/nonexistent", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        check=True,
    )
    printed = result.stdout.decode().split("\0")[:-1]
    assert printed == expected(url, MAX_ID, 7, "Authorization: Bearer tok-123")[1:]
    assert list(tmp_path.iterdir()) == []  # no backtick or $() ran


@pytest.mark.parametrize(
    ("plan_id", "user_id"),
    [(1, 1), (681, 7), (2**53 + 1, 2**53 + 3), (MAX_ID, MAX_ID)],
)
def test_ids_are_exact_integers_digit_for_digit(plan_id, user_id):
    body = arguments(curl_for(URL, plan_id, user_id))[-1]
    assert body == f'{{"planId": {plan_id}, "userId": {user_id}}}'
    decoded = json.loads(body)
    assert decoded == {"planId": plan_id, "userId": user_id}
    assert type(decoded["planId"]) is int


@pytest.mark.parametrize("bad", [0, -1, 2**63, True, 681.0, "681", None])
def test_invalid_ids_are_refused(bad):
    with pytest.raises(InputError):
        curl_for(URL, bad, 1)
    with pytest.raises(InputError):
        curl_for(URL, 1, bad)


def test_only_http_urls_can_be_copied():
    with pytest.raises(InputError):
        curl_for("-x http://evil/ --url file:///etc/passwd", 1, 1)


@pytest.mark.parametrize(
    "token", ["abc.DEF-123_~+/xyz=", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"]
)
def test_the_real_token_is_inserted_only_when_given_and_quoted(token):
    redacted = curl_for(URL, 681, 1)
    assert token not in redacted
    real = curl_for(URL, 681, 1, token=token)
    assert "$TOKEN" not in real
    assert arguments(real) == expected(URL, 681, 1, f"Authorization: Bearer {token}")


def outcome(url=URL, plan_id=681, user_id=1):
    return Outcome(
        category=Category.QUEUED,
        title="t",
        advice="a",
        support="s",
        plan_id=plan_id,
        user_id=user_id,
        profile="stage",
        gateway_url=url,
        http_status=200,
        code=0,
        message="success",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        duration_ms=12,
    )


def test_an_outcome_and_a_run_request_give_the_same_command():
    request = RunRequest(
        plan_id=MAX_ID,
        user_id=3,
        gateway=parse_gateway_url("https://gw.example.test/api/v2/"),
        token="secret-token-value",
        profile="stage",
        client=ClientSettings(),
    )
    from_request = curl_command(request)
    from_outcome = curl_command(outcome(plan_id=MAX_ID, user_id=3))
    assert from_request == from_outcome
    assert "secret-token-value" not in from_request
    assert arguments(from_request)[3] == URL
    assert arguments(curl_command(request, token="secret-token-value"))[7] == (
        "Authorization: Bearer secret-token-value"
    )
