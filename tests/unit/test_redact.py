import base64
import json
import logging
import string
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.redact import PIECE, RedactingFilter, Redactor

TOKEN = "tok_0123456789abcdef"


def test_known_secrets_and_their_base64_forms_are_removed():
    redactor = Redactor()
    redactor.add(TOKEN)
    encoded = base64.b64encode(TOKEN.encode()).decode()
    text = redactor.redact(f"a {TOKEN} b {encoded} c {encoded.rstrip('=')}")
    assert TOKEN not in text
    assert encoded.rstrip("=") not in text
    assert text.count("[REDACTED]") == 3


def test_secret_shaped_text_is_removed_even_when_unknown():
    redactor = Redactor()
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    text = redactor.redact(
        f"Authorization: Bearer abc.def-123 and {jwt} and token=zzzz9999"
    )
    assert "abc.def-123" not in text
    assert jwt not in text
    assert "zzzz9999" not in text
    assert "Bearer [REDACTED]" in text


def test_the_logging_filter_redacts_messages_arguments_and_tracebacks(tmp_path):
    redactor = Redactor()
    redactor.add(TOKEN)
    path = tmp_path / "log.txt"
    handler = logging.FileHandler(path)
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    try:
        logger.warning("token is %s", TOKEN)
        try:
            raise ValueError(f"bad {TOKEN}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        handler.close()
    content = path.read_text()
    assert TOKEN not in content
    assert "ValueError" in content
    assert content.count("[REDACTED]") == 2


def test_url_encoded_forms_of_a_known_secret_are_removed():
    redactor = Redactor()
    secret = "a+b/c=d&e"
    redactor.add(secret)
    text = redactor.redact("q=a%2Bb%2Fc%3Dd%26e and a%2Bb%2Fc%3Dd%26e")
    assert "a%2Bb" not in text


# Tokens echoed in pieces ------------------------------------------------------

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwiZXhwIjoxNzAwMDAwMDAwfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
BASE64URL = string.ascii_letters + string.digits + "-_"
ENCODINGS = {
    "plain": lambda token: token,
    "base64": lambda token: base64.b64encode(token.encode()).decode(),
    "base64url": lambda token: base64.urlsafe_b64encode(token.encode()).decode(),
    "percent": lambda token: urllib.parse.quote(token, safe=""),
    "json": lambda token: json.dumps(token)[1:-1].replace("/", "\\/"),
}


def surviving_pieces(text, secret):
    return [
        secret[i : i + PIECE]
        for i in range(len(secret) - PIECE + 1)
        if secret[i : i + PIECE] in text
    ]


tokens = st.one_of(
    st.just(JWT),
    st.text(BASE64URL, min_size=2 * PIECE, max_size=120),
    st.text(BASE64URL + "+/=.~", min_size=2 * PIECE, max_size=120),
)


@settings(max_examples=300, deadline=None)
@given(
    token=tokens,
    encoding=st.sampled_from(sorted(ENCODINGS)),
    data=st.data(),
)
def test_no_piece_of_eight_characters_of_a_token_survives_any_split(
    token, encoding, data
):
    redactor = Redactor()
    redactor.add(token)
    echoed = ENCODINGS[encoding](token)
    cuts = sorted(
        data.draw(
            st.lists(st.integers(1, len(echoed) - 1), max_size=4, unique=True),
            label="cuts",
        )
    )
    pieces = [
        echoed[a:b] for a, b in zip([0, *cuts], [*cuts, len(echoed)], strict=True)
    ]
    separators = data.draw(
        st.lists(st.text(max_size=6), min_size=len(pieces) - 1, max_size=4),
        label="separators",
    )
    text = data.draw(st.text(max_size=20), label="before")
    for piece, separator in zip(pieces, [*separators, ""], strict=False):
        text += piece + separator
    text += data.draw(st.text(max_size=20), label="after")
    assert surviving_pieces(redactor.redact(text), echoed) == []


@pytest.mark.parametrize("separator", [" ", "\n", "\r\n", "\\n", ", ", " | ", "\t"])
@pytest.mark.parametrize("cut", [1, 5, 8, 20, len(JWT) - 12, len(JWT) - 8, -1])
def test_a_token_echoed_in_two_parts_leaves_nothing_of_either(separator, cut):
    redactor = Redactor()
    redactor.add(JWT)
    head, tail = JWT[:cut], JWT[cut:]
    text = redactor.redact(f"gateway said: {head}{separator}{tail} is not valid")
    assert text == "gateway said: [REDACTED] is not valid"


def test_the_base64_of_a_token_inside_a_longer_base64_text_is_removed():
    redactor = Redactor()
    redactor.add(JWT)
    for user in ("a", "ab", "abc"):
        basic = base64.b64encode(f"{user}:{JWT}".encode()).decode()
        text = redactor.redact(f"Authorization: Basic {basic}")
        # Only the few characters that also encode the user name may remain.
        left = text.removeprefix("Authorization: Basic ").split("[REDACTED]")
        assert len(left) == 2
        assert all(len(part) < PIECE for part in left)


def test_short_runs_of_a_token_do_not_blank_ordinary_words():
    redactor = Redactor()
    redactor.add("ab")
    redactor.add("about-" + JWT)
    message = "The plan was rejected: about the abstract user 42, see the gateway."
    assert redactor.redact(message) == message
