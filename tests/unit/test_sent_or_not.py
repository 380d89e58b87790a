"""Whether a run may have been queued is decided by what happened on the wire.

Real loopback servers stand for the proxy and the gateway. A gateway on
loopback is never reached through a proxy, so runs through a proxy go to
``gw.example.invalid``, a name the client never resolves: the proxy gets it.
"""

import time

import pytest
from wire_servers import WireServer, proxy_407, stalled_server, trickling_gateway

from app.core.errors import SetupError
from app.core.exchange import Canceller, ClientSettings
from app.core.http import build_client, post_queue
from app.core.outcome import Category
from app.core.redact import Redactor
from app.core.runner import Runner, RunRequest, check_transport
from app.core.urls import parse_gateway_url

BODY = b'{"planId":681,"userId":1}'
TOKEN = "abcdefghijklmnopqrstuvwx"
HTTPS_GATEWAY = "https://gw.example.invalid/api"
HTTP_GATEWAY = "http://gw.example.invalid:18080/ok"


def run(gateway, settings, token=TOKEN, *, allow_plain_http=False):
    request = RunRequest(
        plan_id=681,
        user_id=1,
        gateway=parse_gateway_url(gateway),
        token=token,
        profile=None,
        client=settings,
        allow_plain_http=allow_plain_http,
    )
    return Runner(Redactor()).run(request).outcome


@pytest.mark.parametrize("watched", [True, False], ids=["watchdog", "read-timeout"])
def test_a_proxy_that_never_answers_connect_sent_nothing(watched):
    # The client's own read timeout ends the CONNECT, or the run's watchdog
    # does; either way the run's request was never written.
    canceller = Canceller() if watched else None
    with stalled_server() as proxy:
        settings = ClientSettings(proxy=proxy.url, read_timeout=1, connect_timeout=1)
        with build_client(settings, canceller) as client:
            exchange = post_queue(
                client,
                HTTPS_GATEWAY + "/queue",
                BODY,
                TOKEN,
                answer_seconds=1,
                canceller=canceller,
            )
        heads = list(proxy.heads)
    assert exchange.failure is not None
    assert exchange.failure.kind == "proxy"
    assert not exchange.failure.sent
    assert "CONNECT" in exchange.failure.detail
    assert exchange.attempts == 1
    assert [head.split(b" ", 1)[0] for head in heads] == [b"CONNECT"]


def test_a_stalled_connect_is_a_network_outcome_not_maybe_queued():
    with stalled_server() as proxy:
        outcome = run(HTTPS_GATEWAY, ClientSettings(proxy=proxy.url, read_timeout=1))
    assert outcome.category is Category.NETWORK
    assert outcome.category.may_be_queued == "no"
    assert "Nothing was sent" in outcome.advice
    assert outcome.facts["request_may_have_left"] == "no"


def test_connecting_through_a_stalled_proxy_takes_the_connect_time_not_the_answer():
    # The answer may take 10 s, but connecting (the tunnel) at most 1 s.
    started = time.monotonic()
    with stalled_server() as proxy:
        outcome = run(
            HTTPS_GATEWAY,
            ClientSettings(proxy=proxy.url, read_timeout=10, connect_timeout=1),
        )
    assert time.monotonic() - started < 3
    assert outcome.category is Category.NETWORK
    assert "within 1 s" in outcome.support


def test_a_request_a_forwarding_proxy_took_may_have_been_queued():
    # A plain-http proxy forwards the request itself: once it has the request,
    # the gateway may have it too.
    with stalled_server() as proxy:
        outcome = run(
            HTTP_GATEWAY,
            ClientSettings(proxy=proxy.url, read_timeout=1),
            allow_plain_http=True,
        )
        heads = list(proxy.heads)
    assert outcome.category is Category.UNKNOWN
    assert heads[0].startswith(b"POST http://gw.example.invalid:18080/ok/queue")


def test_a_gateway_that_took_the_request_and_never_answered_may_have_queued_it():
    with stalled_server() as gateway:
        outcome = run(gateway.url, ClientSettings(read_timeout=1))
    assert outcome.category is Category.UNKNOWN
    assert outcome.facts["request_may_have_left"] == "yes"


@pytest.mark.parametrize(
    ("gateway", "proxy_kind"),
    [(HTTP_GATEWAY, "forwarding"), (HTTPS_GATEWAY, "tunnel")],
)
def test_a_proxy_sign_in_is_the_proxys_problem_whichever_way_it_is_used(
    gateway, proxy_kind
):
    with proxy_407() as proxy:
        proxy_url = f"http://alice:pw-Secret9@127.0.0.1:{proxy.port}"
        outcome = run(
            gateway,
            ClientSettings(proxy=proxy_url, read_timeout=3),
            allow_plain_http=True,
        )
    shown = f"http://alice:***@127.0.0.1:{proxy.port}"
    assert outcome.category is Category.NETWORK, proxy_kind
    assert outcome.title == f"The proxy {shown} asks for a sign-in (HTTP 407)"
    assert "user name and password" in outcome.advice
    assert "gateway's URL" not in outcome.advice
    texts = " ".join(
        [outcome.title, outcome.advice, outcome.support, outcome.summary()]
    )
    assert "pw-Secret9" not in texts
    assert "pw-Secret9" not in repr(dict(outcome.facts))


@pytest.mark.parametrize(
    "token",
    [
        "abcdefgh\nijklmnop",
        "abcdefgh\r\nijklmnop",
        "abcdefgh\x00ijklmnop",
        "abcdefghijklmnop\x7f",
        "abcdéfghijklmnop",
        "abcdefghijklmnop ",
    ],
)
def test_a_token_a_header_cannot_carry_is_a_setup_error_and_nothing_is_sent(token):
    with stalled_server() as gateway:
        with pytest.raises(SetupError) as raised:
            run(gateway.url, ClientSettings(read_timeout=1), token=token)
        heads = list(gateway.heads)
    message = str(raised.value)
    assert "Nothing was sent" in message
    assert "Set the token again" in message
    assert token.strip() not in message
    assert "ijklmnop" not in message
    assert heads == []


def test_a_header_the_http_client_refuses_to_encode_was_not_sent():
    # The token is checked before sending; any other value the HTTP client
    # refuses fails while the headers are encoded, before a byte is written.
    settings = ClientSettings(read_timeout=1, user_agent="PlanRunner\r\nX-Injected: 1")
    with stalled_server() as gateway:
        outcome = run(gateway.url, settings)
        heads = list(gateway.heads)
    assert outcome.category is Category.NETWORK
    assert outcome.facts["failure"] == "header"
    assert outcome.facts["request_may_have_left"] == "no"
    assert "X-Injected" not in repr(outcome.to_dict())
    assert heads == []


@pytest.mark.parametrize("part", ["head", "body"])
def test_a_trickling_answer_ends_the_answer_time_after_sending(part):
    started = time.monotonic()
    with trickling_gateway(part, every=0.1) as gateway:
        outcome = run(gateway.url, ClientSettings(read_timeout=1))
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 1.7
    assert outcome.category is Category.UNKNOWN
    assert 900 <= outcome.duration_ms < 1600
    if part == "head":
        assert outcome.title.startswith("No answer within 1 s")
    else:
        assert "cut off after 1 s" in outcome.facts["body_interrupted"]


def test_plain_http_advice_names_the_option_that_applies():
    gateway = parse_gateway_url("http://gw.example.invalid:18080")
    with pytest.raises(SetupError, match="--allow-plain-http"):
        check_transport(gateway, allow_plain_http=False, ad_hoc=True)
    with pytest.raises(SetupError, match="profile's settings") as raised:
        check_transport(gateway, allow_plain_http=False)
    assert "--allow-plain-http" not in str(raised.value)


def test_a_run_without_a_profile_is_refused_with_the_command_line_option():
    with pytest.raises(SetupError, match="--allow-plain-http"):
        run(HTTP_GATEWAY, ClientSettings(read_timeout=1))


def answering(raw):
    def respond(connection, head):
        connection.sendall(raw)
        connection.close()

    return WireServer(respond)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff\x1b[2J garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabc",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ],
    ids=["garbage", "two lengths", "101"],
)
def test_an_answer_that_is_not_http_is_unreadable_not_dropped(raw):
    with answering(raw) as gateway:
        settings = ClientSettings(read_timeout=3, connect_timeout=3)
        outcome = run(gateway.url, settings, allow_plain_http=True)
    assert outcome.category is Category.UNKNOWN
    assert outcome.facts["failure"] == "protocol"
    assert "could not be read" in outcome.title
    assert "broke the rules of HTTP" in outcome.support


def test_a_gateway_that_hangs_up_without_answering_dropped_the_connection():
    with answering(b"") as gateway:
        settings = ClientSettings(read_timeout=3, connect_timeout=3)
        outcome = run(gateway.url, settings, allow_plain_http=True)
    assert outcome.category is Category.UNKNOWN
    assert outcome.facts["failure"] == "dropped"
    assert "dropped" in outcome.title
