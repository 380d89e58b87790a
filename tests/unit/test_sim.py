"""The gateway simulator answers as the contract says, and misbehaves on demand."""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from app.sim import SCENARIOS, Simulator, main
from app.sim.server import DEFAULT_PLANS, MAX_ID

TOKEN = "demo-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SUCCESS = {"data": None, "result": {"code": 0, "message": "success"}}
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_simulator_threads_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = [
        thread
        for thread in threading.enumerate()
        if thread not in before and thread.name.startswith("gateway-sim")
    ]
    assert left == [], f"simulator threads still alive: {left}"


@pytest.fixture
def gateway() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as http:
        yield http


def queue(
    client: httpx.Client,
    gateway: Simulator,
    body: object = None,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST to the simulator's queue path; by default plan 681 for user 1."""
    headers = AUTH if headers is None else headers
    if content is not None:
        return client.post(
            f"{gateway.url}/queue",
            content=content,
            headers={**headers, "Content-Type": "application/json"},
        )
    payload = {"planId": 681, "userId": 1} if body is None else body
    return client.post(f"{gateway.url}/queue", json=payload, headers=headers)


def wait_until(condition: Callable[[], object], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# The contract


def test_known_plan_and_user_are_queued_with_the_success_envelope(
    gateway: Simulator, client: httpx.Client
) -> None:
    response = queue(client, gateway)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == SUCCESS


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
    ids=["missing", "wrong", "basic-scheme", "no-scheme", "bare-bearer", "longer"],
)
def test_missing_or_wrong_token_gets_401_with_code_1000(
    gateway: Simulator, client: httpx.Client, headers: dict[str, str]
) -> None:
    response = queue(client, gateway, headers=headers)

    assert response.status_code == 401
    assert response.json() == {
        "data": None,
        "result": {
            "code": 1000,
            "message": "Full authentication is required to access this resource",
        },
    }
    assert gateway.queue_posts[-1].token_ok is False


def test_bearer_scheme_is_case_insensitive(
    gateway: Simulator, client: httpx.Client
) -> None:
    response = queue(client, gateway, headers={"Authorization": f"bearer {TOKEN}"})

    assert response.json() == SUCCESS


def test_any_of_several_configured_tokens_is_accepted(client: httpx.Client) -> None:
    with Simulator(tokens=("first", "second")) as gateway:
        first = queue(client, gateway, headers={"Authorization": "Bearer first"})
        second = queue(client, gateway, headers={"Authorization": "Bearer second"})
        demo = queue(client, gateway)

    assert (first.status_code, second.status_code, demo.status_code) == (200, 200, 401)


def test_unknown_plan_gets_code_10000_naming_the_plan(
    gateway: Simulator, client: httpx.Client
) -> None:
    response = queue(client, gateway, {"planId": 99, "userId": 1})

    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "result": {"code": 10000, "message": "Plan with id 99 not found!"},
    }


def test_unknown_user_gets_code_10002_naming_the_user(
    gateway: Simulator, client: httpx.Client
) -> None:
    response = queue(client, gateway, {"planId": 681, "userId": 5})

    assert response.status_code == 200
    assert response.json()["result"] == {
        "code": 10002,
        "message": "User with id 5 not found!",
    }


def test_plan_is_checked_before_user(gateway: Simulator, client: httpx.Client) -> None:
    response = queue(client, gateway, {"planId": 99, "userId": 5})

    assert response.json()["result"]["code"] == 10000


def test_plans_and_users_come_from_the_constructor(client: httpx.Client) -> None:
    with Simulator(plans=[5], users=[6]) as gateway:
        known = queue(client, gateway, {"planId": 5, "userId": 6})
        default_plan = queue(client, gateway, {"planId": 681, "userId": 6})

    assert known.json() == SUCCESS
    assert default_plan.json()["result"]["code"] == 10000


@pytest.mark.parametrize(
    "content",
    [
        b'{"planId": true, "userId": 1}',
        b'{"planId": 681, "userId": false}',
        b'{"planId": 681.0, "userId": 1}',
        b'{"planId": 6.81e2, "userId": 1}',
        b'{"planId": "681", "userId": 1}',
        b'{"planId": 0, "userId": 1}',
        b'{"planId": -681, "userId": 1}',
        b'{"planId": 9223372036854775808, "userId": 1}',
        b'{"planId": 681, "userId": 9223372036854775808}',
        b'{"planId": null, "userId": 1}',
        b'{"userId": 1}',
        b'{"planId": 681}',
        b"{}",
        b"[681, 1]",
        b"681",
        b"null",
        b"not json",
        b'{"planId": 681, "userId": 1',
        b"",
        b'{"planId": NaN, "userId": 1}',
        b'{"planId": {"id": 681}, "userId": 1}',
        b"\xff\xfe{",
    ],
    ids=[
        "bool-plan",
        "bool-user",
        "float",
        "exponent",
        "string",
        "zero",
        "negative",
        "plan-2^63",
        "user-2^63",
        "null",
        "missing-plan",
        "missing-user",
        "empty-object",
        "array",
        "bare-number",
        "json-null",
        "not-json",
        "cut-off-json",
        "empty-body",
        "nan",
        "object-id",
        "not-utf8",
    ],
)
def test_malformed_body_gets_400_invalid_request(
    gateway: Simulator, client: httpx.Client, content: bytes
) -> None:
    response = queue(client, gateway, content=content)

    assert response.status_code == 400
    assert response.json() == {
        "data": None,
        "result": {"code": 400, "message": "INVALID_REQUEST"},
    }


def test_bad_token_is_reported_before_a_malformed_body(
    gateway: Simulator, client: httpx.Client
) -> None:
    response = queue(client, gateway, content=b"not json", headers={})

    assert response.status_code == 401


def test_ids_above_2_pow_53_are_matched_exactly(
    gateway: Simulator, client: httpx.Client
) -> None:
    known = queue(client, gateway, {"planId": 9007199254740993, "userId": 1})
    neighbour = queue(client, gateway, {"planId": 9007199254740992, "userId": 1})
    largest = queue(client, gateway, {"planId": MAX_ID, "userId": 1})

    assert known.json() == SUCCESS
    assert neighbour.json()["result"] == {
        "code": 10000,
        "message": "Plan with id 9007199254740992 not found!",
    }
    assert largest.json() == SUCCESS
    assert b"9007199254740993" in gateway.queue_posts[0].body


def test_any_unknown_plan_in_range_is_reported_with_its_exact_digits() -> None:
    with Simulator() as gateway, httpx.Client(timeout=5.0) as client:

        @settings(max_examples=40, deadline=None, database=None)
        @given(
            st.integers(min_value=1, max_value=MAX_ID).filter(
                lambda value: value not in DEFAULT_PLANS
            )
        )
        def check(plan_id: int) -> None:
            response = queue(client, gateway, {"planId": plan_id, "userId": 1})
            message = response.json()["result"]["message"]
            assert message == f"Plan with id {plan_id} not found!"

        check()


def test_chunked_request_body_is_read(gateway: Simulator, client: httpx.Client) -> None:
    response = client.post(
        f"{gateway.url}/queue",
        content=iter([b'{"planId": 681,', b' "userId": 1}']),
        headers={**AUTH, "Content-Type": "application/json"},
    )

    assert response.json() == SUCCESS
    assert gateway.queue_posts[0].headers["Transfer-Encoding"] == "chunked"


def test_oversized_content_length_gets_413_without_reading_the_body(
    gateway: Simulator,
) -> None:
    request = (
        "POST /queue HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-token\r\n"
        "Content-Length: 5000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=2) as sock:
        sock.sendall(request.encode())
        answer = sock.recv(4096)

    assert answer.startswith(b"HTTP/1.1 413 ")


# Paths and methods


def test_prefix_is_served_and_the_bare_path_is_not_found(client: httpx.Client) -> None:
    with Simulator(prefix="/api/v2/") as gateway:
        assert gateway.url.endswith(f":{gateway.port}/api/v2")
        prefixed = queue(client, gateway)
        bare = client.post(
            gateway.url.removesuffix("/api/v2") + "/queue",
            json={"planId": 681, "userId": 1},
            headers=AUTH,
        )
        doubled = client.post(f"{gateway.url}//queue", json={}, headers=AUTH)
        health = client.get(f"{gateway.url}/health")
        root = client.get(f"{gateway.url}/")

    assert prefixed.json() == SUCCESS
    assert bare.status_code == 404
    assert bare.json()["path"] == "/queue"
    assert doubled.status_code == 404
    assert health.json() == {"status": "UP"}
    assert root.json() == {"status": "UP"}


def test_unknown_path_gets_spring_style_404(
    gateway: Simulator, client: httpx.Client
) -> None:
    response = client.post(f"{gateway.url}/queues?x=1", json={}, headers=AUTH)

    assert response.status_code == 404
    body = response.json()
    assert {key: body[key] for key in ("status", "error", "path")} == {
        "status": 404,
        "error": "Not Found",
        "path": "/queues",
    }
    assert datetime.datetime.fromisoformat(body["timestamp"]).tzinfo is not None


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_on_queue_get_405_allowing_post(
    gateway: Simulator, client: httpx.Client, method: str
) -> None:
    response = client.request(method, f"{gateway.url}/queue", headers=AUTH)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert gateway.requests[-1].method == method
    assert gateway.queue_posts == []


def test_health_answers_get_and_head_without_touching_the_queue(
    gateway: Simulator, client: httpx.Client
) -> None:
    get = client.get(f"{gateway.url}/health")
    head = client.head(f"{gateway.url}/")
    post = client.post(f"{gateway.url}/health")

    assert (get.status_code, get.json()) == (200, {"status": "UP"})
    assert (head.status_code, head.content) == (200, b"")
    assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD")
    assert gateway.queue_posts == []


# What the simulator records and logs


def test_recorded_requests_redact_the_token_and_keep_the_body(
    gateway: Simulator, client: httpx.Client
) -> None:
    queue(client, gateway)
    client.get(f"{gateway.url}/health", headers=AUTH)

    recorded = gateway.requests
    assert [(r.method, r.path) for r in recorded] == [
        ("POST", "/queue"),
        ("GET", "/health"),
    ]
    assert recorded[0].headers["Authorization"] == "Bearer [REDACTED]"
    assert recorded[0].body == b'{"planId":681,"userId":1}'
    assert recorded[0].token_ok is True
    assert TOKEN not in repr(recorded)
    assert len(gateway.queue_posts) == 1


def test_requests_is_a_copy_and_clear_forgets_everything(
    gateway: Simulator, client: httpx.Client
) -> None:
    queue(client, gateway)
    gateway.requests.clear()
    assert len(gateway.requests) == 1

    gateway.clear()

    assert gateway.requests == []
    assert gateway.queue_posts == []


def test_log_names_the_request_but_never_the_token(
    gateway: Simulator, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="app.sim")

    queue(client, gateway)
    queue(client, gateway, headers={"Authorization": "Bearer not-the-one"})

    messages = [record.getMessage() for record in caplog.records]
    assert any(
        "POST /queue -> 200" in m and "planId=681, userId=1" in m for m in messages
    )
    assert not any(TOKEN in m or "not-the-one" in m for m in messages)


# Scenarios with a fixed answer


CANNED: dict[str, Callable[[httpx.Response, Simulator], None]] = {}


def canned(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def register(check: Callable[..., None]) -> Callable[..., None]:
        CANNED[name] = check
        return check

    return register


def _nginx_page(status: int, title: str) -> Callable[..., None]:
    def check(response: httpx.Response, _gateway: Simulator) -> None:
        assert response.status_code == status
        assert response.headers["content-type"] == "text/html"
        assert f"<title>{status} {title}</title>" in response.text
        assert f"<center><h1>{status} {title}</h1></center>" in response.text
        assert "<hr><center>nginx</center>" in response.text

    return check


CANNED["html502"] = _nginx_page(502, "Bad Gateway")
CANNED["html503"] = _nginx_page(503, "Service Temporarily Unavailable")
CANNED["html504"] = _nginx_page(504, "Gateway Time-out")


@canned("empty401")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 401
    assert response.content == b""
    assert response.headers["www-authenticate"] == (
        'Bearer realm="gateway", error="invalid_token", '
        'error_description="The access token expired"'
    )


@canned("spring401")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 401
    assert response.json() == {
        "timestamp": "2026-01-01T00:00:00.000+00:00",
        "status": 401,
        "error": "Unauthorized",
        "path": "/queue",
    }


@canned("oauth401")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "Token is malformed",
    }


@canned("forbidden")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 403
    assert response.headers["content-type"] == "text/html"
    assert "Access denied by firewall policy" in response.text


@canned("error500")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 500
    assert response.json() == {
        "data": None,
        "result": {"code": 500, "message": "INTERNAL_SERVER_ERROR"},
    }


@canned("ratelimit")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert response.json()["status"] == 429


@canned("redirect")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 302
    assert response.headers["location"] == "https://login.example.test/sso?next=/queue"


def _https_same_url(status: int) -> Callable[..., None]:
    def check(response: httpx.Response, gateway: Simulator) -> None:
        assert response.status_code == status
        assert response.headers["location"] == f"https://127.0.0.1:{gateway.port}/queue"

    return check


CANNED["redirect301"] = _https_same_url(301)
CANNED["redirect307"] = _https_same_url(307)
CANNED["redirect308"] = _https_same_url(308)


@canned("notfound")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 404
    assert response.json()["error"] == "Not Found"
    assert response.json()["path"] == "/queue"


@canned("toolarge")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == "text/plain"


@canned("code_nonzero")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 200
    assert response.json()["result"] == {
        "code": 12345,
        "message": "Quota exceeded for this project",
    }


@canned("code_string")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 200
    assert response.json()["result"] == {"code": "0", "message": "success"}


@canned("missing_result")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 200
    assert response.json() == {"data": None}


@canned("extra_fields")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    body = response.json()
    assert response.status_code == 200
    assert body["result"]["code"] == 0
    assert body["result"]["message"] == "success"
    assert set(body) > {"data", "result"}
    assert set(body["result"]) > {"code", "message"}
    assert body["data"]


@canned("not_json")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain"
    assert response.content == b"OK"


@canned("truncated")
def _(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"data": null, "result": {"co'
    assert response.headers["content-length"] == str(len(response.content))
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.parametrize("scenario", sorted(CANNED))
def test_canned_scenario_answers_as_named(client: httpx.Client, scenario: str) -> None:
    with Simulator(scenario=scenario) as gateway:
        response = queue(client, gateway)

        CANNED[scenario](response, gateway)
        assert len(gateway.queue_posts) == 1


def test_scenario_list_names_every_scenario_and_each_is_tested() -> None:
    special = {
        "normal",
        "slow",
        "hang",
        "drop",
        "drop_before",
        "huge",
        "trickle",
        "endless",
    }

    assert set(SCENARIOS) == set(CANNED) | special
    assert len(SCENARIOS) == len(set(SCENARIOS))


def test_scenarios_leave_health_and_other_paths_alone(client: httpx.Client) -> None:
    with Simulator(scenario="html502") as gateway:
        health = client.get(f"{gateway.url}/health")
        queue_get = client.get(f"{gateway.url}/queue")

    assert health.json() == {"status": "UP"}
    assert queue_get.status_code == 405


def test_set_scenario_switches_answers_at_runtime(
    gateway: Simulator, client: httpx.Client
) -> None:
    before = queue(client, gateway)
    gateway.set_scenario("error500")
    after = queue(client, gateway)

    assert (before.status_code, after.status_code) == (200, 500)
    assert gateway.scenario == "error500"
    with pytest.raises(ValueError, match="unknown scenario"):
        gateway.set_scenario("nope")


# Scenarios that take their time or break the connection


def test_slow_answers_normally_after_the_delay(client: httpx.Client) -> None:
    with Simulator(scenario="slow", slow_seconds=0.5) as gateway:
        started = time.monotonic()
        response = queue(client, gateway)
        elapsed = time.monotonic() - started

    assert response.json() == SUCCESS
    assert 0.45 <= elapsed < 2.0


def test_hang_never_answers_and_stop_ends_the_request_in_flight() -> None:
    gateway = Simulator(scenario="hang").start()
    errors: list[Exception] = []

    def call() -> None:
        with httpx.Client(timeout=10.0) as client:
            try:
                queue(client, gateway)
            except httpx.HTTPError as exc:
                errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: gateway.queue_posts)
    time.sleep(0.2)
    assert errors == []

    started = time.monotonic()
    gateway.stop()
    stopped_in = time.monotonic() - started
    caller.join(5.0)

    assert stopped_in < 2.0
    assert not caller.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], httpx.RemoteProtocolError)


def test_hang_makes_the_client_time_out() -> None:
    with (
        Simulator(scenario="hang") as gateway,
        httpx.Client(timeout=httpx.Timeout(5.0, read=0.3)) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        queue(client, gateway)


def test_slow_request_in_flight_is_cut_short_by_stop() -> None:
    gateway = Simulator(scenario="slow", slow_seconds=30).start()
    errors: list[Exception] = []

    def call() -> None:
        with httpx.Client(timeout=10.0) as client:
            try:
                queue(client, gateway)
            except httpx.HTTPError as exc:
                errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: gateway.queue_posts)

    started = time.monotonic()
    gateway.stop()
    stopped_in = time.monotonic() - started
    caller.join(5.0)

    assert stopped_in < 2.0
    assert not caller.is_alive()
    assert [type(error) for error in errors] == [httpx.RemoteProtocolError]


def test_drop_reads_the_request_then_closes_without_a_response(
    client: httpx.Client,
) -> None:
    with Simulator(scenario="drop") as gateway:
        with pytest.raises(httpx.RemoteProtocolError):
            queue(client, gateway)
        assert gateway.queue_posts[0].body == b'{"planId":681,"userId":1}'


def test_drop_before_closes_the_connection_before_reading_anything(
    client: httpx.Client,
) -> None:
    with Simulator(scenario="drop_before") as gateway:
        with pytest.raises(httpx.TransportError) as caught:
            queue(client, gateway)

        assert not isinstance(caught.value, httpx.TimeoutException)
        assert gateway.requests == []


def test_huge_streams_20_mb_of_html(client: httpx.Client) -> None:
    with Simulator(scenario="huge") as gateway:
        response = queue(client, gateway)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html"
    assert len(response.content) == 20 * 1024 * 1024
    assert response.headers["content-length"] == str(20 * 1024 * 1024)
    assert response.content.startswith(b"<!DOCTYPE html>")


def test_huge_stops_quietly_when_the_client_stops_reading(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.sim")
    with Simulator(scenario="huge") as gateway:
        request = client.build_request(
            "POST", f"{gateway.url}/queue", json={"planId": 1, "userId": 1}
        )
        response = client.send(request, stream=True)
        first = next(response.iter_bytes())
        response.close()
        wait_until(lambda: any("bytes sent" in r.getMessage() for r in caplog.records))

    assert first
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_trickle_sends_headers_then_one_byte_at_a_time() -> None:
    gateway = Simulator(scenario="trickle").start()
    received = bytearray()

    def read_all(response: httpx.Response) -> None:
        for chunk in response.iter_raw():
            received.extend(chunk)

    try:
        with (
            httpx.Client(timeout=httpx.Timeout(5.0, read=0.5)) as client,
            client.stream(
                "POST",
                f"{gateway.url}/queue",
                json={"planId": 681, "userId": 1},
                headers=AUTH,
            ) as response,
            pytest.raises(httpx.ReadTimeout),
        ):
            read_all(response)
    finally:
        started = time.monotonic()
        gateway.stop()
        stopped_in = time.monotonic() - started

    assert response.status_code == 200
    assert response.headers["content-length"] == str(
        len(json.dumps(SUCCESS, separators=(",", ":")))
    )
    assert bytes(received) == b"{"
    assert stopped_in < 2.0


def test_trickle_in_flight_is_cut_short_by_stop() -> None:
    gateway = Simulator(scenario="trickle").start()
    received = bytearray()

    def call() -> None:
        with httpx.Client(timeout=10.0) as client:
            try:
                with client.stream(
                    "POST", f"{gateway.url}/queue", json={}, headers=AUTH
                ) as response:
                    for chunk in response.iter_raw():
                        received.extend(chunk)
            except httpx.TransportError:
                pass

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: received)

    started = time.monotonic()
    gateway.stop()

    assert time.monotonic() - started < 2.0
    caller.join(5.0)
    assert not caller.is_alive()
    assert bytes(received) == b"{"


# Lifecycle


def test_start_is_fast_and_stop_is_idempotent() -> None:
    gateway = Simulator()
    gateway.stop()

    started = time.monotonic()
    gateway.start()
    elapsed = time.monotonic() - started
    try:
        with pytest.raises(RuntimeError, match="already running"):
            gateway.start()
    finally:
        gateway.stop()
        gateway.stop()

    assert elapsed < 0.1


def test_stop_leaves_no_threads_behind_even_with_open_connections() -> None:
    before = set(threading.enumerate())
    gateway = Simulator(scenario="normal").start()
    clients = [httpx.Client(timeout=5.0) for _ in range(3)]
    for client in clients:
        assert queue(client, gateway).status_code == 200
    idle = socket.create_connection(("127.0.0.1", gateway.port))

    started = time.monotonic()
    gateway.stop()
    elapsed = time.monotonic() - started

    for client in clients:
        client.close()
    idle.close()
    assert elapsed < 2.0
    assert set(threading.enumerate()) - before == set()


def test_port_is_known_after_stop_and_refuses_connections(
    client: httpx.Client,
) -> None:
    with Simulator() as gateway:
        url = gateway.url

    with pytest.raises(httpx.ConnectError):
        client.get(f"{url}/health")


def test_port_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not been started"):
        _ = Simulator().port


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tokens": [""]}, "non-empty"),
        ({"tokens": ["two words"]}, "spaces"),
        ({"plans": [0]}, "plan ID"),
        ({"users": [2**63]}, "user ID"),
        ({"plans": [True]}, "plan ID"),
        ({"scenario": "nope"}, "unknown scenario"),
        ({"prefix": "/api?x=1"}, "prefix"),
        ({"slow_seconds": -1}, "slow_seconds"),
        ({"port": 70000}, "port"),
    ],
)
def test_constructor_rejects_unusable_settings(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Simulator(**kwargs)  # type: ignore[arg-type]


# TLS


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Simulator test CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_simulator_serves_https_and_survives_a_plain_http_client(
    tmp_path: Path,
) -> None:
    cert_path, key_path = _self_signed_certificate(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    client_context = ssl.create_default_context(cafile=str(cert_path))

    with Simulator(ssl_context=server_context) as gateway:
        assert gateway.url.startswith("https://127.0.0.1:")
        with httpx.Client(timeout=2.0) as plain, pytest.raises(httpx.HTTPError):
            plain.post(f"http://127.0.0.1:{gateway.port}/queue", json={}, headers=AUTH)
        with httpx.Client(verify=client_context, timeout=5.0) as client:
            response = queue(client, gateway)

    assert response.json() == SUCCESS


# The command line


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--plans", "1,x"], "--plans"),
        (["--plans", ""], "--plans"),
        (["--plans", "1,,2"], "--plans"),
        (["--users", "0"], "--users"),
        (["--users", "1.5"], "--users"),
        (["--plans", str(2**63)], "--plans"),
        (["--token", ""], "--token"),
        (["--token", "a b"], "--token"),
        (["--port", "70000"], "--port"),
        (["--port", "http"], "--port"),
        (["--scenario", "nope"], "--scenario"),
        (["--slow-seconds", "-1"], "--slow-seconds"),
        (["--slow-seconds", "nan"], "--slow-seconds"),
        (["--prefix", "/a b"], "prefix"),
        (["--tls-key", "key.pem"], "--tls-cert"),
        (["--tls-cert", "/nonexistent/cert.pem"], "certificate"),
        (["--no-such-option"], "unrecognized"),
    ],
)
def test_main_rejects_bad_arguments_with_exit_code_2(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2

    captured = capsys.readouterr()
    assert "plan-runner simulate" in captured.err
    assert complaint in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_main_returns_1_when_the_port_is_taken(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Simulator() as gateway:
        code = main(["--port", str(gateway.port)])

    assert code == 1
    assert "cannot listen" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_main_serves_until_signalled_then_exits_0_cleanly(
    signum: signal.Signals,
) -> None:
    secret = "cli-secret-token"
    process = subprocess.Popen(
        [sys.executable, "-m", "app.sim", "--port", "0", "--token", secret],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 10.0)
        assert ready, "the simulator printed nothing"
        line = process.stdout.readline().strip()
        url = line.removeprefix("Simulator listening on ").split()[0]
        with httpx.Client(timeout=5.0) as client:
            response = client.post(
                f"{url}/queue",
                json={"planId": 681, "userId": 1},
                headers={"Authorization": f"Bearer {secret}"},
            )
        process.send_signal(signum)
        out, err = process.communicate(timeout=5.0)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert line.startswith("Simulator listening on http://127.0.0.1:")
    assert line.endswith(" (scenario: normal)")
    assert response.json() == SUCCESS
    assert process.returncode == 0
    assert "POST /queue -> 200" in err
    assert secret not in err
    assert "Traceback" not in err
    assert out == ""


@canned("echo_token")
def _echo_token(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 401
    assert response.json()["result"]["code"] == 1000
    # The point of the scenario: the credential comes back, in body and header.
    assert response.json()["result"]["message"] == "Token rejected: Bearer demo-token"
    assert "Bearer demo-token" in response.headers["www-authenticate"]


@canned("gzip_bomb")
def _gzip_bomb(response: httpx.Response, _gateway: Simulator) -> None:
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    compressed = response.num_bytes_downloaded
    assert compressed < 200_000
    assert len(response.content) == 128 << 20


def test_endless_body_keeps_sending_until_the_client_leaves(
    client: httpx.Client,
) -> None:
    with Simulator(scenario="endless") as gateway:
        with client.stream(
            "POST",
            gateway.url + "/queue",
            json={"planId": 681, "userId": 1},
            headers=AUTH,
        ) as response:
            assert response.status_code == 200
            received = 0
            for chunk in response.iter_raw():
                received += len(chunk)
                if received >= 3:
                    break
        assert received >= 3
