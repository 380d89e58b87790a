"""What gateways say is shown safely: redacted whole, then cut; no control codes."""

import json
from datetime import UTC, datetime

import pytest

from app.core.exchange import Answer, Exchange
from app.core.outcome import Category, RunContext, decode, shown_safely
from app.core.redact import Redactor

CONTEXT = RunContext(
    plan_id=1,
    user_id=1,
    queue_url="http://127.0.0.1:1/queue",
    host="127.0.0.1",
    profile=None,
    started_at=datetime(2026, 12, 3, tzinfo=UTC),
)
TOKEN = "opaqueAAAA1111BBBB2222CCCC3333DDDD4444EEEE5555FFFF6666GGGG7777HHHH8888"
JSON = {"content-type": "application/json"}


def redactor() -> Redactor:
    known = Redactor()
    known.add(TOKEN)
    return known


def pieces(token: str, size: int = 12) -> list[str]:
    return [token[i : i + size] for i in range(0, len(token) - size + 1, 6)]


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (
            401,
            JSON,
            json.dumps({"error": "Unauthorized", "message": "x" * 250 + " " + TOKEN}),
        ),
        (
            502,
            {"content-type": "text/html"},
            "<html><body>" + "y" * 280 + TOKEN + "</body></html>",
        ),
        (400, JSON, json.dumps({"detail": ["z" * 270, TOKEN]})),
        (
            200,
            {"via": "1.1 " + "v" * 290 + TOKEN, "server": TOKEN, "x-request-id": TOKEN},
            "",
        ),
    ],
    ids=["framework message", "html page", "other json", "headers"],
)
def test_a_token_in_a_long_answer_is_redacted_before_it_is_cut(status, headers, body):
    outcome = decode(
        Exchange(Answer(status, headers, body.encode()), None, 1, 1),
        CONTEXT,
        redactor().redact,
    )
    shown = json.dumps(outcome.to_dict())
    assert [piece for piece in pieces(TOKEN) if piece in shown] == []


def test_a_known_token_cut_short_is_still_recognised():
    text = redactor().redact("prefix " + TOKEN[:20] + "… and …" + TOKEN[-15:] + " end")
    assert TOKEN[:12] not in text
    assert TOKEN[-12:] not in text
    assert text.startswith("prefix [REDACTED]")


ESCAPES = "\x1b]0;PWNED\x07\x1b[2J\x1b[31mQUEUED\x1b[0m\r\u202eevil\u200b"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, json.dumps({"data": None, "result": {"code": 7, "message": ESCAPES}})),
        (401, json.dumps({"error": "invalid_token", "error_description": ESCAPES})),
        (502, f"<html><title>{ESCAPES}</title></html>"),
    ],
)
def test_control_and_bidirectional_characters_never_reach_the_screen(status, body):
    outcome = decode(Exchange(Answer(status, JSON, body.encode()), None, 1, 1), CONTEXT)
    for text in (
        outcome.title,
        outcome.advice,
        outcome.support,
        outcome.message or "",
        *outcome.facts.values(),
    ):
        assert text.isprintable(), repr(text)
    assert "PWNED" in json.dumps(outcome.to_dict())  # the words stay, the codes go


def test_shown_safely_keeps_ordinary_text_and_marks_the_rest():
    assert shown_safely("Plan 681 ✓ queued") == "Plan 681 ✓ queued"
    assert shown_safely("a\tb\nc\rd") == "a b c d"
    assert shown_safely("x\x1by\u202ez") == "x\ufffdy\ufffdz"


@pytest.mark.parametrize(
    "value", ["9" * 5000, "99999999999", "Fri, 31 Dec 9999 23:59:59 GMT"]
)
def test_absurd_retry_after_values_are_capped_not_crashed_on(value):
    outcome = decode(
        Exchange(Answer(429, {"retry-after": value}, b""), None, 1, 1), CONTEXT
    )
    assert outcome.category is Category.RATE_LIMITED
    assert "wait 7 days or more" in outcome.advice
