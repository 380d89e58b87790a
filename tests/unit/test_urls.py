import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.errors import InputError
from app.core.urls import parse_gateway_url


@pytest.mark.parametrize(
    ("text", "queue_url"),
    [
        ("https://gw.example.test", "https://gw.example.test/queue"),
        ("https://gw.example.test/", "https://gw.example.test/queue"),
        ("https://gw.example.test/api/v2", "https://gw.example.test/api/v2/queue"),
        ("https://gw.example.test/api/v2/", "https://gw.example.test/api/v2/queue"),
        ("https://gw.example.test/api/v2///", "https://gw.example.test/api/v2/queue"),
        (
            "https://gw.example.test/api/v2/queue",
            "https://gw.example.test/api/v2/queue",
        ),
        ("https://gw.example.test/queue/", "https://gw.example.test/queue"),
        (
            "  HTTPS://GW.Example.TEST:8443/Api ",
            "https://gw.example.test:8443/Api/queue",
        ),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/queue"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x/queue"),
    ],
)
def test_gateway_urls_lead_to_exactly_one_queue(text, queue_url):
    assert parse_gateway_url(text).queue_url == queue_url


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter the gateway URL"),
        ("gw.example.test", "needs a scheme"),
        ("gw.example.test/api", "needs a scheme"),
        ("ftp://gw.example.test", "https:// or http://"),
        ("https://", "no host"),
        ("https://gw.example.test:99999", "not valid"),
        ("https://user:pw@gw.example.test", "user name and password"),
        ("https://gw.example.test/a?b=1", r"'\?…'"),
        ("https://gw.exa mple.test", "spaces"),
        ("https://gw.example.test\n/x", "spaces"),
    ],
)
def test_unusable_gateway_urls_say_what_to_fix(text, message):
    with pytest.raises(InputError, match=message):
        parse_gateway_url(text)


@pytest.mark.parametrize(
    ("text", "loopback"),
    [
        ("http://localhost:1", True),
        ("http://127.0.0.5", True),
        ("http://[::1]", True),
        ("http://localhost.:8080", True),
        ("http://0.0.0.0:8080", True),
        ("http://[::]:8080", True),
        ("http://[::ffff:127.0.0.1]:8080", True),
        ("http://gw.example.test", False),
        ("http://10.0.0.1", False),
        ("http://[::ffff:10.0.0.1]", False),
        ("http://localhost.example.test", False),
    ],
)
def test_loopback_hosts_are_recognised(text, loopback):
    assert parse_gateway_url(text).is_loopback is loopback


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("https://gw.example.test:443/api", "https://gw.example.test"),
        ("HTTP://GW.Example.Test.:80", "http://gw.example.test"),
        ("http://gw.example.test:443", "http://gw.example.test:443"),
        ("https://gw.example.test:8443/", "https://gw.example.test:8443"),
        ("http://[0:0:0:0:0:0:0:1]:8080", "http://[::1]:8080"),
        ("https://Bücher.example", "https://xn--bcher-kva.example"),
        ("https://10.0.0.5.", "https://10.0.0.5"),
    ],
)
def test_the_origin_has_one_form_whatever_the_url_s_form(text, origin):
    assert parse_gateway_url(text).origin == origin


@pytest.mark.parametrize(
    ("text", "base"),
    [
        ("http://127.0.0.1:18080/ok/../ok", "http://127.0.0.1:18080/ok"),
        ("https://gw.example.test/./api/v2", "https://gw.example.test/api/v2"),
        ("https://gw.example.test/api/v1/../v2/", "https://gw.example.test/api/v2"),
        ("https://gw.example.test/../../api", "https://gw.example.test/api"),
        ("https://gw.example.test/api/..", "https://gw.example.test"),
        ("https://gw.example.test/api/queue/..", "https://gw.example.test/api"),
        ("https://gw.example.test/api/x/../queue", "https://gw.example.test/api"),
        # Only literal dots: an encoded one is sent as written, and shown so.
        ("https://gw.example.test/a/%2e%2e/b", "https://gw.example.test/a/%2e%2e/b"),
    ],
)
def test_dot_segments_are_resolved_where_they_are_shown(text, base):
    gateway = parse_gateway_url(text)
    assert gateway.base == base
    assert gateway.queue_url == base + "/queue"


_SEGMENTS = st.lists(
    st.sampled_from([".", "..", "a", "b", "queue", "", "%2e", "v2"]), max_size=8
)


@given(_SEGMENTS)
def test_the_queue_url_shown_is_the_one_the_client_sends(segments):
    text = "https://gw.example.test/" + "/".join(segments)
    gateway = parse_gateway_url(text)
    sent = httpx.Request("POST", gateway.queue_url).url
    assert str(sent) == gateway.queue_url
