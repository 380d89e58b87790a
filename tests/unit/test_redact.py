import base64
import json
import logging
import re
import string
import unicodedata
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.redact import PIECE, REDACTED, RedactingFilter, Redactor

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


def bones(text):
    """Return the letters and digits of ``text``, lower case: what a reader keeps."""
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKC", text).lower())


def readings(text):
    """Return the ways a reader can put back together what is left in ``text``.

    Each part between two redactions is read on its own: as it is, without its
    markup and colour codes, and with its percent escapes decoded as well.
    """
    for part in text.split("[REDACTED]"):
        bare = re.sub(r"<[^<>]*>|\x1b\[[0-9;]*m|&#\d+;|&shy;", "", part)
        yield from (bones(part), bones(bare), bones(urllib.parse.unquote(bare)))


def leaked_pieces(text, *secrets):
    """Return every run of PIECE of a secret's skeleton that a reading keeps."""
    pieces = {
        bones(secret)[i : i + PIECE]
        for secret in secrets
        for i in range(len(bones(secret)) - PIECE + 1)
    }
    return sorted(
        {piece for reading in readings(text) for piece in pieces if piece in reading}
    )


tokens = st.one_of(
    st.just(JWT),
    st.text(BASE64URL, min_size=2 * PIECE, max_size=120),
    st.text(BASE64URL + "+/=.~", min_size=2 * PIECE, max_size=120),
)

ECHOES = {
    **ENCODINGS,
    "every byte percent-encoded": lambda token: "".join(
        f"%{byte:02X}" for byte in token.encode()
    ),
    "hex": lambda token: token.encode().hex(),
    "HEX": lambda token: token.encode().hex().upper(),
    "base32": lambda token: base64.b32encode(token.encode()).decode(),
}
SEPARATORS = [
    " ", "\n", "\r\n", "\t", "\\n", ", ", " | ", "-", '", "',
    "<wbr>", "<wbr/>", "<span>", '</span><span class="t">', "<br>\n", "<!-- -->",
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "&#8203;", "&shy;",
    "\x1b[31m", "\x1b[0m", "\x1b[1;32m", "\x1b[0m\n\x1b[2m",
]  # fmt: skip
separators = st.one_of(
    st.sampled_from(SEPARATORS),
    st.text(st.characters(exclude_categories=("L", "N")), max_size=4),
)


def swap_case(text, flips):
    return "".join(
        char.swapcase() if flip else char
        for char, flip in zip(text, flips + [False] * len(text), strict=False)
    )


@settings(max_examples=400, deadline=None)
@given(
    token=tokens,
    echo=st.sampled_from(sorted(ECHOES)),
    case=st.sampled_from(["as is", "upper", "lower", "mixed"]),
    data=st.data(),
)
def test_no_run_of_eight_of_a_token_survives_any_echo(token, echo, case, data):
    redactor = Redactor()
    redactor.add(token)
    echoed = ECHOES[echo](token)
    if case == "upper":
        echoed = echoed.upper()
    elif case == "lower":
        echoed = echoed.lower()
    elif case == "mixed":
        echoed = swap_case(echoed, data.draw(st.lists(st.booleans()), label="flips"))
    width = data.draw(st.integers(0, PIECE - 1), label="width (0: random cuts)")
    if width:
        cuts = list(range(width, len(echoed), width))
    else:
        cuts = sorted(
            data.draw(
                st.lists(st.integers(1, len(echoed) - 1), max_size=6, unique=True),
                label="cuts",
            )
        )
    pieces = [
        echoed[a:b] for a, b in zip([0, *cuts], [*cuts, len(echoed)], strict=True)
    ]
    text = data.draw(st.text(max_size=20), label="before")
    for index, piece in enumerate(pieces):
        text += piece
        if index < len(pieces) - 1:
            text += data.draw(separators, label="separator")
    text += data.draw(st.text(max_size=20), label="after")

    redacted = redactor.redact(text)

    assert leaked_pieces(redacted, echoed, token) == []


READABLE_ECHOES = {
    "seven characters a line": lambda token: "\n".join(
        token[i : i + 7] for i in range(0, len(token), 7)
    ),
    "<wbr> every four": lambda token: "<wbr>".join(
        token[i : i + 4] for i in range(0, len(token), 4)
    ),
    "<span> every four": lambda token: "".join(
        f"<span>{token[i : i + 4]}</span>" for i in range(0, len(token), 4)
    ),
    "zero-width spaces": "\u200b".join,
    "word joiners": "\u2060".join,
    "colour every four": lambda token: (
        "".join(f"\x1b[3{i % 8}m{token[i : i + 4]}" for i in range(0, len(token), 4))
        + "\x1b[0m"
    ),
    "hex": lambda token: token.encode().hex(),
    "HEX": lambda token: token.encode().hex().upper(),
    "every byte percent-encoded": lambda token: "".join(
        f"%{byte:02x}" for byte in token.encode()
    ),
    "base32": lambda token: base64.b32encode(token.encode()).decode(),
    "capitals": str.upper,
    "lower case": str.lower,
}


DEBUG_ECHOES = {
    "entities without semicolons": lambda token: "".join(f"&#{ord(c)}" for c in token),
    "entities padded with zeros": lambda token: "".join(
        f"&#{ord(c):08d};" for c in token
    ),
    "hex entities without semicolons": lambda token: "".join(
        f"&#x{ord(c):x}" for c in token
    ),
    "entities escaped twice": lambda token: "".join(f"&amp;#{ord(c)};" for c in token),
    "percent-encoded three times": lambda token: "".join(
        f"%2525{byte:02X}" for byte in token.encode()
    ),
    "backslashes doubled": lambda token: "".join(f"\\\\u{ord(c):04x}" for c in token),
    "Python's \\U escapes": lambda token: "".join(f"\\U{ord(c):08x}" for c in token),
    "octal escapes": lambda token: "".join(f"\\{byte:03o}" for byte in token.encode()),
    "fullwidth": lambda token: "".join(
        chr(0xFEE0 + ord(c)) if c.isascii() and c.isalnum() else c for c in token
    ),
    "mathematical bold": lambda token: "".join(
        unicodedata.lookup(
            f"MATHEMATICAL BOLD {'CAPITAL' if c.isupper() else 'SMALL'} {c.upper()}"
        )
        if c.isascii() and c.isalpha()
        else c
        for c in token
    ),
    "JSON escapes of fullwidth": lambda token: "".join(
        f"\\u{0xFEE0 + ord(c):04x}" if c.isascii() and c.isalnum() else c for c in token
    ),
    "backwards": lambda token: token[::-1],
    "base64 twice": lambda token: base64.b64encode(
        base64.b64encode(token.encode())
    ).decode(),
    "base64 of UTF-16": lambda token: base64.b64encode(
        token.encode("utf-16-le")
    ).decode(),
    "UTF-16 in hex": lambda token: token.encode("utf-16-be").hex(),
    "a list of its bytes": lambda token: str(list(token.encode())),
    "a list of its bytes in hex": lambda token: ", ".join(
        f"0x{byte:02x}" for byte in token.encode()
    ),
    "entities inside a tag": lambda token: (
        '<input value="' + "".join(f"&#{ord(c)};" for c in token) + '">'
    ),
    "entities between angle brackets in prose": lambda token: (
        "< b and " + "".join(f"&#{ord(c)};" for c in token) + " >"
    ),
    "JSON escapes inside a comment": lambda token: (
        "<!-- " + "".join(f"\\u{ord(c):04x}" for c in token) + " -->"
    ),
}


@pytest.mark.parametrize("echo", sorted(DEBUG_ECHOES))
def test_a_token_in_the_encodings_of_debug_output_is_removed(echo):
    token = "Zq7mK2pX9vR4tL8nW3yB6cH1dF5gJ0sA"
    redactor = Redactor()
    redactor.add(token)

    text = redactor.redact(f"gateway said: {DEBUG_ECHOES[echo](token)} is not valid")

    # Nothing of the echo is left but what it wraps the token in.
    wrapping = DEBUG_ECHOES[echo]("")
    assert bones(text.replace(REDACTED, " ")) == bones(
        f"gateway said: {wrapping} is not valid"
    ), text


@pytest.mark.parametrize("echo", sorted(READABLE_ECHOES))
def test_a_token_echoed_in_pieces_or_plain_encodings_is_removed_whole(echo):
    token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    redactor = Redactor()
    redactor.add(token)
    echoed = READABLE_ECHOES[echo](token)

    text = redactor.redact(f"gateway said: token {echoed} is not valid")

    # The markup or colour code around the first and last piece may stay.
    bare = re.sub(r"<[^<>]*>|\x1b\[[0-9;]*m", "", text)
    assert bare == "gateway said: token [REDACTED] is not valid"


PROSE = [
    "The plan was rejected: about the abstract user 42, see the gateway.",
    "2024-05-01 12:00:01,123 INFO app.core.runner: Run of plan 681 for user 7 "
    "on profile 'staging' ended queued (HTTP 200, 143 ms)",
    "<html><body><h1>502 Bad Gateway</h1><hr><center>nginx/1.25.3</center>"
    "</body></html>",
    "\x1b[31mERROR\x1b[0m upstream timed out (110: Connection timed out) while "
    "reading response header from upstream, request id 9f8e7d6c5b4a3210",
    "GET /api/v2/queue?plan=681&user=7%20x&next=%2Fhome HTTP/1.1 404 Not Found",
    '{"result": {"code": 10000, "message": "Plan 681 does not exist"}, '
    '"trace": "a1b2c3d4e5f60718"}',
    "Ünïcödé prose, with émphasis\u200b and &nbsp; entities &amp; more.",
    'WWW-Authenticate: Bearer realm="gw", error="insufficient_scope", '
    'error_description="The access token lacks scope", scope="queue:write"',
    "Send a bearer token. Bearer authentication failed: the bearer of bad news.",
    '{"access_token": null, "has_token": true, "token": "none"} token: expired',
]


@pytest.mark.parametrize("text", PROSE)
def test_ordinary_text_is_left_as_it_is(text):
    redactor = Redactor()
    redactor.add(JWT)
    redactor.add("tok_" + "Q7xVw2LpZk9Rt4YbN8cMh3Jd")
    redactor.add("ab")

    assert redactor.redact(text) == text


def test_a_run_of_a_token_shorter_than_a_piece_is_left_in_ordinary_words():
    token = "zzSecretqx" + "Wordpla" + "Mk3Jd9Lp"
    redactor = Redactor()
    redactor.add(token)
    message = "No secret here: wordplay is fun."

    assert redactor.redact(message) == message


def test_a_token_between_angle_brackets_is_removed():
    redactor = Redactor()
    redactor.add(JWT)

    text = redactor.redact(f"expected <{JWT.lower()}> or <id {JWT.upper()}>")

    assert leaked_pieces(text, JWT) == []


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


@pytest.mark.parametrize(
    "separator", ["&#8203;", "&#x200B;", "\\u200b", "&shy;", "\u200b", "<wbr>"]
)
@pytest.mark.parametrize("width", [1, 2, 4])
def test_an_invisible_separator_inside_an_escape_does_not_hide_the_token(
    separator, width
):
    # "%3&#8203;0" shows as "%30": the separator cuts the escape for a parser
    # but not for a reader.
    token = "0" * 16
    echoed = "".join(f"%{byte:02X}" for byte in token.encode())
    pieces = [echoed[i : i + width] for i in range(0, len(echoed), width)]
    redactor = Redactor()
    redactor.add(token)

    text = redactor.redact(f"gateway said: {separator.join(pieces)} is not valid")

    assert leaked_pieces(text, echoed, token) == []


@pytest.mark.parametrize(
    ("token", "text"),
    [
        # ESC A moves the cursor on a VT52 and is a letter of text elsewhere.
        ("0000000A00000001", "0 0 0 0 0 0 0\x1bA 0 0 0 0 0 0 0 1"),
        # A backslash before a token's "r" makes "\r" of it in a JSON reading.
        ("0000000r00000001", "0 0 0 0 0 0 0\\r 0 0 0 0 0 0 0 1"),
        ("0000000amp0000001", "0 0 0 0 0 0 0&amp;0 0 0 0 0 0 1"),
        # An escape sequence that takes the token's digits for its own.
        ("abcdefgh31mnopqr", "abcdefgh\x1b[31mnopqr"),
    ],
)
def test_letters_an_escape_could_take_count_as_text_too(token, text):
    redactor = Redactor()
    redactor.add(token)

    assert leaked_pieces(redactor.redact(text), token) == []


ADVERSARIAL_RUNS = [
    "\\", "eyJ", "eyJaaaa.", "%", "%25", "&amp;", "&#0", "\\u", "\\\\u0", "<", "<a",
    "\x1b]", "\x1b[", "%\u200b", "&\u200b", "%4<b>", "<a>&#1", "Bearer ", "token=",
]  # fmt: skip


@pytest.mark.timeout(60)
def test_a_gateways_largest_body_of_any_repeated_unit_is_redacted_in_one_pass():
    # A body is cut at 256 KB. Patterns that try again from every character of a
    # run ("eyJeyJ…", a run of backslashes) took minutes on such a body.
    redactor = Redactor()
    redactor.add("Zq7mK2pX9vR4tL8nW3yB6cH1dF5gJ0sA")
    for unit in ADVERSARIAL_RUNS:
        text = unit * (256 * 1024 // len(unit))
        assert redactor.redact(text + " Zq7mK2pX9vR4").endswith(REDACTED)


def test_every_string_of_a_document_is_redacted_keys_and_all():
    token = "Zq7mK2pX9vR4tL8nW3yB6cH1dF5gJ0sA"
    redactor = Redactor()
    redactor.add(token)
    document = {
        "said": f"bad token {token}",
        token: [1, None, (f"x {token}", 2.5), {"deep": [token]}],
        "count": 3,
    }

    assert redactor.redact_all(document) == {
        "said": "bad token [REDACTED]",
        "[REDACTED]": [1, None, ["x [REDACTED]", 2.5], {"deep": ["[REDACTED]"]}],
        "count": 3,
    }
