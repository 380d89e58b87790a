"""Bad input of every kind gets a message for a person, never a traceback."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.contract import LONG_MAX, parse_id
from app.core.errors import InputError
from app.core.urls import parse_gateway_url

# IDs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "9" * 100_000,
        "1" + "0" * 5_000,
        str(LONG_MAX + 1),
        "9" * 20,
    ],
)
def test_an_id_with_too_many_digits_is_too_large_not_a_crash(text):
    with pytest.raises(InputError, match="too large"):
        parse_id(text, "plan")


def test_leading_zeros_do_not_count_towards_an_ids_size():
    assert parse_id("0" * 100_000 + "42", "plan") == 42
    assert parse_id("0" * 10 + str(LONG_MAX), "plan") == LONG_MAX


def test_an_id_of_many_zeros_is_below_one():
    with pytest.raises(InputError, match="1 or more"):
        parse_id("0" * 100_000, "plan")


# Gateway URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("https://ｇｗ.example.com", "ordinary letters: gw.example.com"),
        ("https://ＧＷ.example.com/api", "ordinary letters: gw.example.com"),
        ("https://xn--zz.example", "'xn--'"),
        ("https://256.256.256.256", "not a valid IPv4 address"),
        ("https://01.2.3.4", "not a valid IPv4 address"),
        ("https://10.1", "not a valid IPv4 address"),
        ("https://0x7f.1", "not a valid IPv4 address"),
        ("https://2130706433", "not a valid IPv4 address"),
        ("https://gw..example.com", "empty part"),
        ("https://gw%41.example.com", "only letters, digits"),
        ("https://" + "a" * 64 + ".example.com", "too long"),
        ("https://[::1]junk/x", "after the ']'"),
        ("https://gw.exa\u202emple.com", "invisible characters"),
        ("https://gw.exa\u200bmple.com", "invisible characters"),
        ("https://gw.example.com/\x7f", "invisible characters"),
        ("https://gw.example.com/" + "a" * 70_000, "not valid"),
    ],
)
def test_gateway_urls_the_http_client_would_refuse_are_refused_first(text, message):
    with pytest.raises(InputError, match=message):
        parse_gateway_url(text)


@pytest.mark.parametrize(
    ("text", "queue_url"),
    [
        ("https://bücher.example/api", "https://bücher.example/api/queue"),
        ("https://10.0.0.5.:8443", "https://10.0.0.5:8443/queue"),
        ("http://build_agent.local", "http://build_agent.local/queue"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example/queue"),
    ],
)
def test_valid_unusual_gateway_urls_are_kept(text, queue_url):
    assert parse_gateway_url(text).queue_url == queue_url


_URL_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))
_URLISH = st.builds(
    "".join,
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "http://",
                    "https://",
                    "HTTPS://",
                    "[",
                    "]",
                    ":",
                    "::1",
                    "/",
                    ".",
                    "xn--",
                    "%",
                    "@",
                    "127.0.0.1",
                    "256",
                    "example.com",
                    "/queue",
                ]
            ),
            st.text(_URL_ALPHABET, max_size=6),
        ),
        max_size=12,
    ),
)


@settings(max_examples=3_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.text(), _URLISH))
def test_every_accepted_gateway_url_can_be_sent_by_the_http_client(text):
    try:
        url = parse_gateway_url(text)
    except InputError:
        return
    request = httpx.Request("POST", url.queue_url)
    assert request.url.host
    assert request.url.scheme in ("http", "https")
