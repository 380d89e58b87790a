"""A gateway's texts are kept at a bounded size, wherever they end up.

A gateway may send a message of hundreds of kilobytes. The outcome keeps it cut
to :data:`MESSAGE_CHARS`, quotes it in at most :data:`QUOTE_CHARS` among its own
words, and says how much it left out; so the command line's JSON, the history
row and the result panel all get small texts.
"""

from __future__ import annotations

import io
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.cli.run import _print
from app.core.exchange import MAX_BODY_BYTES, Answer, ClientSettings, Exchange
from app.core.history import HistoryStore
from app.core.outcome import (
    EXCERPT_CHARS,
    MESSAGE_CHARS,
    QUOTE_CHARS,
    Category,
    Outcome,
    RunContext,
    cut,
    decode,
    one_line,
)
from app.core.redact import Redactor
from app.core.runner import Runner, RunRequest
from app.core.urls import parse_gateway_url

CONTEXT = RunContext(
    plan_id=681,
    user_id=1,
    queue_url="http://127.0.0.1:1/queue",
    host="127.0.0.1",
    profile="demo",
    started_at=datetime(2026, 12, 3, tzinfo=UTC),
)
JSON = {"content-type": "application/json"}
HUGE = 200_000
MARK = len("… (9,999,999 more characters)")
"""The most a cut's mark adds to the length of what it keeps."""

ONE_LINE_MAX = 1000
"""More than any sentence of ours plus one quote, far less than a huge message."""


def envelope(message: str, code: int = 12345) -> str:
    return json.dumps({"data": None, "result": {"code": code, "message": message}})


def decoded(status: int, body: bytes | str, headers: dict[str, str] | None = None):
    raw = body.encode() if isinstance(body, str) else body
    return decode(Exchange(Answer(status, headers or JSON, raw), None, 1, 5), CONTEXT)


def sentence(chars: int) -> str:
    words = "the gateway explains at length why it did that "
    return (words * (chars // len(words) + 1))[:chars]


def texts_of(outcome: Outcome) -> dict[str, str]:
    return {
        "title": outcome.title,
        "advice": outcome.advice,
        "support": outcome.support,
        "summary": outcome.summary(),
        **{f"facts[{key}]": value for key, value in outcome.facts.items()},
    }


# The policy, text by text -------------------------------------------------------


def test_a_huge_envelope_message_is_kept_cut_and_says_how_much_was_left_out():
    message = sentence(HUGE)

    outcome = decoded(200, envelope(message))

    assert outcome.category is Category.REJECTED
    kept = outcome.message or ""
    assert len(kept) <= MESSAGE_CHARS + MARK
    body, _, mark = kept.partition("… (")
    assert message.startswith(body)
    assert mark == f"{HUGE - len(body):,} more characters)"


@pytest.mark.parametrize("code", [0, 10000, 12345, 1000])
def test_a_huge_message_is_only_quoted_in_one_line_texts(code):
    outcome = decoded(200, envelope(sentence(HUGE), code))

    for name, text in texts_of(outcome).items():
        assert len(text) < ONE_LINE_MAX, name
    assert f"({HUGE - QUOTE_CHARS:,} more characters)" in outcome.support


def test_a_message_is_kept_once_at_length_and_quoted_elsewhere():
    outcome = decoded(200, envelope(sentence(HUGE)))

    # What the history keeps of an outcome: message, title, advice and facts.
    long_texts = [
        name
        for name, text in {
            "message": outcome.message or "",
            "title": outcome.title,
            "advice": outcome.advice,
            **outcome.facts,
        }.items()
        if len(text) > EXCERPT_CHARS + MARK
    ]
    assert long_texts == ["message"]


def test_a_short_message_is_kept_whole_everywhere():
    message = "Plan with id 681 not found!"

    outcome = decoded(200, envelope(message, 10000))

    assert outcome.message == message
    assert f"'{message}'" in outcome.support
    assert outcome.facts["envelope"] == f"code 10000: {message}"
    assert f"({message})" in outcome.summary()


@pytest.mark.parametrize(
    ("status", "document"),
    [
        (401, {"status": 401, "error": "Unauthorized", "message": "m" * HUGE}),
        (400, {"error": "invalid_request", "error_description": "d " * HUGE}),
        (500, {"detail": ["x" * HUGE]}),
    ],
    ids=["framework message", "oauth description", "other json"],
)
def test_error_bodies_that_are_not_the_envelope_are_cut_too(status, document):
    outcome = decoded(status, json.dumps(document))

    assert len(outcome.message or "") <= MESSAGE_CHARS + MARK
    for name, text in texts_of(outcome).items():
        assert len(text) < ONE_LINE_MAX, name
    assert "more characters)" in json.dumps(outcome.to_dict())


@pytest.mark.parametrize(
    ("status", "header"),
    [(302, "location"), (429, "retry-after"), (401, "www-authenticate")],
)
def test_long_header_values_are_cut_in_facts_and_quoted_in_words(status, header):
    value = "https://sso.example.test/login?next=" + "q" * 12_000
    if header == "www-authenticate":
        value = f'Bearer error="invalid_token", error_description="{"e" * 12_000}"'

    outcome = decoded(status, b"", {header: value})

    assert outcome.facts[header].endswith("more characters)")
    assert len(outcome.facts[header]) <= EXCERPT_CHARS + MARK
    for name, text in texts_of(outcome).items():
        assert len(text) < ONE_LINE_MAX, name


def test_an_html_error_page_is_quoted_short_in_the_support_text():
    page = "<html><title>Bad Gateway</title><body>" + "w " * 5000 + "</body></html>"

    outcome = decoded(502, page, {"content-type": "text/html"})

    assert len(outcome.support) < ONE_LINE_MAX
    assert "'Bad Gateway w w w" in outcome.support


def test_line_breaks_in_a_message_never_break_the_one_line_texts():
    message = "first line\n\n\r\n   second line\t\tend " * 500

    outcome = decoded(200, envelope(message))

    assert "first line second line end first line" in outcome.support
    assert len(outcome.summary().splitlines()) == 4
    texts = texts_of(outcome)
    del texts["summary"]
    for name, text in texts.items():
        assert "\n" not in text, name
        assert "  " not in text, name


TOKEN = "opaqueAAAA1111BBBB2222CCCC3333DDDD4444EEEE5555FFFF6666GGGG7777HHHH8888"


@pytest.mark.parametrize("before", [MESSAGE_CHARS - 5, QUOTE_CHARS - 5])
def test_a_token_across_a_cut_is_redacted_before_the_cut(before):
    redactor = Redactor()
    redactor.add(TOKEN)
    body = envelope("x" * before + TOKEN + "y" * HUGE)

    outcome = decode(
        Exchange(Answer(200, JSON, body.encode()), None, 1, 5),
        CONTEXT,
        redactor.redact,
    )

    # Five characters of the token are too few for redaction to recognise once
    # cut: only redacting the whole text first removes them.
    assert TOKEN[:5] not in json.dumps(outcome.to_dict())
    assert TOKEN[:5] not in outcome.summary()


# Cutting ------------------------------------------------------------------------


def test_a_text_within_the_limit_is_left_as_it_is():
    assert cut("Plan with id 681 not found!", 27) == "Plan with id 681 not found!"
    assert cut("", 10) == ""


def test_a_cut_says_how_many_characters_it_left_out():
    assert cut("a" * 12_345 + "b" * 10, 10) == "aaaaaaaaaa… (12,345 more characters)"
    assert cut("abcdefghijk", 10) == "abcdefghij… (1 more character)"


def test_a_cut_never_ends_on_trailing_spaces():
    assert cut("word    " + "next " * 10, 6) == "word… (54 more characters)"


def test_cutting_a_cut_text_again_counts_everything_left_out():
    once = cut("z" * 5000, 2000)

    assert cut(once, 100) == "z" * 100 + "… (4,900 more characters)"
    assert cut(once, 3000) == once


@pytest.mark.parametrize(
    ("text", "limit", "kept"),
    [
        ("ca" + "e\u0301" * 5, 5, "cae\u0301"),  # an e and its accent stay together
        ("abcd" + "\U0001f1eb\U0001f1f7" * 3, 5, "abcd"),  # a flag is two characters
        ("ab" + "\U0001f1eb\U0001f1f7" * 3, 5, "ab\U0001f1eb\U0001f1f7"),
        ("abcd\U0001f600\U0001f600\U0001f600", 5, "abcd\U0001f600"),  # past the BMP
        ("ab" + "\u0301" * 100, 50, "ab" + "\u0301" * 48),  # a pile of marks is cut
    ],
    ids=["accent", "flag split", "flag whole", "emoji", "endless marks"],
)
def test_a_cut_falls_between_visible_characters(text, limit, kept):
    result = cut(text, limit)

    assert result.partition("… (")[0] == kept
    assert result.endswith(f"({len(text) - len(kept):,} more characters)")


def test_one_line_makes_one_short_safe_line():
    text = "\x1b[2Jline one\n\tline two\u202e " + "x" * 500

    line = one_line(text)

    assert line.startswith("\ufffd[2Jline one line two\ufffd x")
    assert line.isprintable()
    assert len(line) <= QUOTE_CHARS + MARK


# Where the texts end up -----------------------------------------------------------


def runner_answering(body: bytes) -> Runner:
    import httpx

    from app.core.http import build_client

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=JSON, content=body)

    return Runner(
        Redactor(),
        client_factory=lambda settings, canceller: build_client(
            settings, canceller, transport=httpx.MockTransport(respond)
        ),
    )


def request_to(url: str) -> RunRequest:
    return RunRequest(
        plan_id=681,
        user_id=1,
        gateway=parse_gateway_url(url),
        token="size-test-token",
        profile=None,
        client=ClientSettings(read_timeout=10, connect_timeout=5),
    )


def test_the_command_lines_json_stays_small_for_a_huge_message():
    body = envelope(sentence(HUGE)).encode()
    assert len(body) < MAX_BODY_BYTES  # the whole message arrives

    result = runner_answering(body).run(request_to("https://gw.example.test/api"))
    out = io.StringIO()
    with redirect_stdout(out):
        _print(result.outcome, as_json=True, redactor=Redactor())

    printed = json.loads(out.getvalue())
    assert printed["outcome"] == "rejected"
    assert len(out.getvalue()) < 2 * MESSAGE_CHARS + 2 * ONE_LINE_MAX
    assert printed["message"].endswith(f"({HUGE - MESSAGE_CHARS:,} more characters)")


def test_a_history_row_stays_small_for_a_huge_message(tmp_path):
    outcome = decoded(200, envelope(sentence(HUGE)))
    path = tmp_path / "history.sqlite3"

    with HistoryStore.open(path) as store:
        row_id = store.record(outcome)

    with sqlite3.connect(path) as connection:
        sizes = connection.execute(
            "SELECT length(message), length(advice), length(title), length(facts) "
            "FROM runs WHERE id = ?",
            (row_id,),
        ).fetchone()
    connection.close()
    message, advice, title, facts = sizes
    assert message <= MESSAGE_CHARS + MARK
    assert advice + title + facts < 2 * ONE_LINE_MAX


class _HugeMessageGateway(BaseHTTPRequestHandler):
    body = envelope(sentence(HUGE)).encode()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def huge_message_gateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HugeMessageGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_real_loopback_answer_with_a_huge_message_ends_in_small_texts():
    with huge_message_gateway() as url:
        result = Runner(Redactor()).run(request_to(url))

    outcome = result.outcome
    assert outcome.category is Category.REJECTED
    assert len(outcome.message or "") <= MESSAGE_CHARS + MARK
    assert len(json.dumps(outcome.to_dict())) < 2 * MESSAGE_CHARS + 2 * ONE_LINE_MAX
