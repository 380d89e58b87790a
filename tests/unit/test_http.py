"""Sending: one POST, bounded reads, retries only before anything left."""

import ssl
import threading
import time

import httpx
import pytest
import trustme

from app.core.errors import SetupError
from app.core.exchange import (
    MAX_BODY_BYTES,
    Canceller,
    ClientSettings,
    authorization_header,
)
from app.core.http import build_client, post_queue, tls_context
from app.sim import Simulator

BODY = b'{"planId":681,"userId":1}'


def mock_client(handler):
    return httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=False)


def test_one_post_with_the_token_in_the_one_header():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"data": None, "result": {"code": 0}})

    with mock_client(handler) as client:
        exchange = post_queue(
            client, "https://gw.test/queue", BODY, "tok", answer_seconds=5
        )
    assert len(seen) == 1
    assert seen[0].method == "POST"
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert seen[0].headers["content-type"] == "application/json"
    assert seen[0].content == BODY
    assert exchange.answer is not None
    assert exchange.answer.status == 200
    assert exchange.request_headers["Authorization"] == "Bearer [REDACTED]"
    assert authorization_header("x") == {"Authorization": "Bearer x"}


def test_a_connection_that_never_opened_is_retried_once():
    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"data": None, "result": {"code": 0}})

    with mock_client(handler) as client:
        exchange = post_queue(
            client, "https://gw.test/queue", BODY, "t", answer_seconds=5
        )
    assert len(calls) == 2
    assert exchange.attempts == 2
    assert exchange.answer is not None


def test_a_connection_that_fails_twice_is_not_tried_a_third_time():
    calls = []

    def handler(request):
        calls.append(1)
        raise httpx.ConnectError("refused", request=request)

    with mock_client(handler) as client:
        exchange = post_queue(
            client, "https://gw.test/queue", BODY, "t", answer_seconds=5
        )
    assert len(calls) == 2
    assert exchange.failure is not None
    assert exchange.failure.kind == "connect"
    assert not exchange.failure.sent


@pytest.mark.parametrize(
    ("error", "words", "kind"),
    [
        (httpx.ReadTimeout, "boom", "read_timeout"),
        (
            httpx.RemoteProtocolError,
            "Server disconnected without sending a response.",
            "dropped",
        ),
        (httpx.RemoteProtocolError, "illegal status line", "protocol"),
        (httpx.ReadError, "boom", "dropped"),
        (httpx.WriteError, "boom", "write"),
    ],
)
def test_nothing_is_resent_once_bytes_may_have_left(error, words, kind):
    calls = []

    def handler(request):
        calls.append(1)
        raise error(words, request=request)

    with mock_client(handler) as client:
        exchange = post_queue(
            client, "https://gw.test/queue", BODY, "t", answer_seconds=5
        )
    assert len(calls) == 1
    assert exchange.failure is not None
    assert exchange.failure.kind == kind
    assert exchange.failure.sent


def test_redirects_are_never_followed(simulator):
    simulator.set_scenario("redirect")
    with build_client(ClientSettings(read_timeout=5)) as client:
        exchange = post_queue(
            client, simulator.url + "/queue", BODY, "demo-token", answer_seconds=5
        )
    assert exchange.answer is not None
    assert exchange.answer.status == 302
    assert len(simulator.requests) == 1


def test_a_huge_body_is_read_only_up_to_the_bound(simulator):
    simulator.set_scenario("huge")
    with build_client(ClientSettings(read_timeout=5)) as client:
        exchange = post_queue(
            client, simulator.url + "/queue", BODY, "demo-token", answer_seconds=5
        )
    assert exchange.answer is not None
    assert exchange.answer.truncated
    assert len(exchange.answer.body) <= MAX_BODY_BYTES


def test_a_slow_trickle_is_cut_off_by_the_deadline(simulator):
    simulator.set_scenario("trickle")
    started = time.monotonic()
    with build_client(ClientSettings(read_timeout=1)) as client:
        exchange = post_queue(
            client, simulator.url + "/queue", BODY, "demo-token", answer_seconds=1
        )
    assert time.monotonic() - started < 4
    assert exchange.answer is not None
    assert exchange.answer.interrupted


def test_a_dropped_connection_is_not_resent(simulator):
    simulator.set_scenario("drop")
    with build_client(ClientSettings(read_timeout=5)) as client:
        exchange = post_queue(
            client, simulator.url + "/queue", BODY, "demo-token", answer_seconds=5
        )
    assert exchange.failure is not None
    assert exchange.failure.kind == "dropped"
    assert len(simulator.queue_posts) == 1


def test_a_closed_port_is_a_network_failure_that_never_left():
    with Simulator() as sim:
        url = sim.url
    with build_client(ClientSettings(connect_timeout=2)) as client:
        exchange = post_queue(client, url + "/queue", BODY, "t", answer_seconds=2)
    assert exchange.failure is not None
    assert exchange.failure.kind == "connect"
    assert not exchange.failure.sent
    assert exchange.attempts == 2


def test_cancel_aborts_a_request_that_never_answers(simulator):
    simulator.set_scenario("hang")
    canceller = Canceller()
    timer = threading.Timer(0.3, canceller.cancel)
    timer.start()
    started = time.monotonic()
    with build_client(ClientSettings(read_timeout=30), canceller) as client:
        exchange = post_queue(
            client,
            simulator.url + "/queue",
            BODY,
            "demo-token",
            answer_seconds=30,
            canceller=canceller,
        )
    timer.join()
    assert time.monotonic() - started < 3
    assert exchange.failure is not None
    assert exchange.failure.kind == "cancelled"
    assert exchange.failure.sent


@pytest.fixture(scope="module")
def test_ca():
    return trustme.CA()


@pytest.fixture
def tls_simulator(test_ca):
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    test_ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    with Simulator(ssl_context=server_context) as sim:
        yield sim


def test_an_untrusted_certificate_is_reported_as_tls(tls_simulator):
    with build_client(ClientSettings(connect_timeout=3)) as client:
        exchange = post_queue(
            client, tls_simulator.url + "/queue", BODY, "demo-token", answer_seconds=3
        )
    assert exchange.failure is not None
    assert exchange.failure.kind == "tls"
    assert not exchange.failure.sent
    assert "certificate" in exchange.failure.detail
    assert tls_simulator.queue_posts == []


def test_an_extra_ca_file_adds_to_the_os_trust_store(tls_simulator, test_ca, tmp_path):
    ca_file = tmp_path / "company-ca.pem"
    test_ca.cert_pem.write_to_path(str(ca_file))
    settings = ClientSettings(extra_ca_file=ca_file, read_timeout=3)
    with build_client(settings) as client:
        exchange = post_queue(
            client, tls_simulator.url + "/queue", BODY, "demo-token", answer_seconds=3
        )
    assert exchange.answer is not None
    assert exchange.answer.status == 200


def test_an_unreadable_extra_ca_file_says_which_file(tmp_path):
    missing = tmp_path / "nope.pem"
    with pytest.raises(SetupError, match=r"nope\.pem"):
        tls_context(missing)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(SetupError, match=r"garbage\.pem"):
        tls_context(garbage)


@pytest.mark.parametrize(
    "value", ["::bad::", "http://[::1", "socks9://x:1", "http://h:notaport"]
)
def test_a_malformed_proxy_variable_never_crashes_the_client(monkeypatch, value):
    monkeypatch.setenv("HTTPS_PROXY", value)
    monkeypatch.setenv("NO_PROXY", "[[[,,,")
    with build_client(ClientSettings()) as client:
        assert client is not None


@pytest.mark.parametrize(
    "location", ["A:0", "http://[::1", "https://", "javascript:alert(1)", "//x:99999"]
)
def test_a_malformed_redirect_location_is_kept_and_never_raises(location):
    def handler(request):
        return httpx.Response(301, headers={"Location": location})

    with build_client(
        ClientSettings(), transport=httpx.MockTransport(handler)
    ) as client:
        exchange = post_queue(
            client, "https://gw.test/queue", BODY, "t", answer_seconds=5
        )
    assert exchange.answer is not None
    assert exchange.answer.status == 301
    assert exchange.answer.headers["location"] == location


@pytest.mark.parametrize(
    "proxy", ["socks5://127.0.0.1:1080", "::bad::", "http://h:notaport"]
)
def test_an_unusable_profile_proxy_is_a_setup_error_naming_it(proxy):
    with pytest.raises(SetupError, match="proxy"):
        build_client(ClientSettings(proxy=proxy))
