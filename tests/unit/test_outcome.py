"""The decoder: (status, headers, body) or a transport failure -> one Outcome."""

import json
from datetime import UTC, datetime

import pytest

from app.core.exchange import Answer, Exchange, Failure
from app.core.outcome import (
    Category,
    RunContext,
    decode,
    parse_www_authenticate,
    retry_after_seconds,
    text_excerpt,
)
from app.core.redact import Redactor

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CONTEXT = RunContext(
    plan_id=681,
    user_id=7,
    queue_url="https://gw.example.test/api/queue",
    host="gw.example.test",
    profile="staging",
    started_at=NOW,
    read_timeout=30,
)
JSON = {"content-type": "application/json"}
HTML = {"content-type": "text/html"}


def envelope(code, message, data=None):
    return json.dumps({"data": data, "result": {"code": code, "message": message}})


NGINX_502 = (
    "<html><head><title>502 Bad Gateway</title><style>body{color:red}</style></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>"
    "<script>alert(1)</script></body></html>"
)

# (case, status, headers, body, category, code, words in the title)
TABLE = [
    # The contract.
    (
        "success",
        200,
        JSON,
        envelope(0, "success"),
        Category.QUEUED,
        0,
        "Plan 681 was queued for user 7",
    ),
    (
        "success after a byte order mark",
        200,
        JSON,
        "\ufeff" + envelope(0, "success"),
        Category.QUEUED,
        0,
        "Plan 681 was queued for user 7",
    ),
    (
        "success, a message that is not text",
        200,
        JSON,
        envelope(0, {"en": "Queued"}),
        Category.QUEUED,
        0,
        "Plan 681 was queued for user 7",
    ),
    (
        "401 UNAUTHORIZED",
        401,
        JSON,
        '{"error": "UNAUTHORIZED"}',
        Category.AUTH,
        None,
        "did not accept your token",
    ),
    (
        "400 INVALID_REQUEST",
        400,
        JSON,
        '{"error": "INVALID_REQUEST"}',
        Category.INVALID,
        None,
        "malformed",
    ),
    (
        "500 INTERNAL_SERVER_ERROR",
        500,
        JSON,
        '{"error": "INTERNAL_SERVER_ERROR"}',
        Category.GATEWAY,
        None,
        "internal error",
    ),
    (
        "code 1000 on 200",
        200,
        JSON,
        envelope(1000, "Full authentication is required to access this resource"),
        Category.AUTH,
        1000,
        "did not accept your token",
    ),
    (
        "code 1000 on 401",
        401,
        JSON,
        envelope(1000, "Full authentication is required to access this resource"),
        Category.AUTH,
        1000,
        "did not accept your token",
    ),
    (
        "code 10000",
        200,
        JSON,
        envelope(10000, "Plan with id 681 not found!"),
        Category.REJECTED,
        10000,
        "Plan 681 was not found",
    ),
    (
        "code 10000 on 404",
        404,
        JSON,
        envelope(10000, "Plan with id 681 not found!"),
        Category.REJECTED,
        10000,
        "Plan 681 was not found",
    ),
    (
        "code 10002",
        200,
        JSON,
        envelope(10002, "User with id 7 not found!"),
        Category.REJECTED,
        10002,
        "User 7 was not found",
    ),
    (
        "code 10002 on 400",
        400,
        JSON,
        envelope(10002, "User with id 7 not found!"),
        Category.REJECTED,
        10002,
        "User 7 was not found",
    ),
    (
        "500 with envelope",
        500,
        JSON,
        envelope(500, "INTERNAL_SERVER_ERROR"),
        Category.GATEWAY,
        500,
        "internal error",
    ),
    (
        "400 with envelope",
        400,
        JSON,
        envelope(400, "INVALID_REQUEST"),
        Category.INVALID,
        400,
        "malformed",
    ),
    # What real gateways also send.
    (
        "empty 401 + WWW-Authenticate expired",
        401,
        {
            "www-authenticate": 'Bearer realm="gw", error="invalid_token", error_description="The access token expired"'
        },
        "",
        Category.AUTH,
        None,
        "Your token has expired",
    ),
    (
        "empty 401 + WWW-Authenticate invalid",
        401,
        {
            "www-authenticate": 'Bearer error="invalid_token", error_description="Malformed"'
        },
        "",
        Category.AUTH,
        None,
        "rejected your token",
    ),
    ("bare empty 401", 401, {}, "", Category.AUTH, None, "did not accept your token"),
    (
        "spring 401",
        401,
        JSON,
        '{"timestamp": "2026-01-01T00:00:00Z", "status": 401, "error": "Unauthorized", "path": "/queue"}',
        Category.AUTH,
        None,
        "did not accept your token",
    ),
    (
        "oauth2 error",
        401,
        JSON,
        '{"error": "invalid_token", "error_description": "Token is malformed"}',
        Category.AUTH,
        None,
        "rejected your token",
    ),
    (
        "insufficient scope on 401",
        401,
        {
            "www-authenticate": 'Bearer error="insufficient_scope", '
            'error_description="The access token lacks scope", scope="queue:write"'
        },
        "",
        Category.AUTH,
        None,
        "lacks the permission",
    ),
    (
        "insufficient scope on 403",
        403,
        {"www-authenticate": 'Bearer error="insufficient_scope"'},
        "",
        Category.AUTH,
        None,
        "refused access",
    ),
    (
        "403 from a firewall",
        403,
        HTML,
        "<html><body>Access denied by policy</body></html>",
        Category.AUTH,
        None,
        "refused access",
    ),
    ("502 html", 502, HTML, NGINX_502, Category.GATEWAY, None, "502"),
    (
        "503 html",
        503,
        HTML,
        "<html><title>503 Service Unavailable</title></html>",
        Category.GATEWAY,
        None,
        "unavailable",
    ),
    # A challenge beside an answer that is not a refusal decides nothing.
    (
        "success beside a leftover challenge",
        200,
        {**JSON, "www-authenticate": 'Bearer error="invalid_token"'},
        envelope(0, "Queued"),
        Category.QUEUED,
        0,
        "Plan 681 was queued for user 7",
    ),
    (
        "503 page with a challenge",
        503,
        {**HTML, "www-authenticate": 'Bearer error="temporarily_unavailable"'},
        "<html><title>503 Service Unavailable</title></html>",
        Category.GATEWAY,
        None,
        "HTTP 503",
    ),
    (
        "504 with a challenge",
        504,
        {**HTML, "www-authenticate": 'Bearer error="invalid_token"'},
        "<html><title>504 Gateway Time-out</title></html>",
        Category.UNKNOWN,
        None,
        "may have been queued",
    ),
    (
        "407 on a direct connection, whose envelope says queued",
        407,
        JSON,
        envelope(0, "Queued"),
        Category.UNKNOWN,
        0,
        "says the plan was queued",
    ),
    (
        "a status HTTP does not have, whose envelope says queued",
        999,
        JSON,
        envelope(0, "Queued"),
        Category.UNKNOWN,
        0,
        "says the plan was queued",
    ),
    (
        "504 html",
        504,
        HTML,
        "<html><title>504 Gateway Time-out</title></html>",
        Category.UNKNOWN,
        None,
        "may have been queued",
    ),
    (
        "404 wrong prefix",
        404,
        JSON,
        '{"timestamp": "x", "status": 404, "error": "Not Found", "path": "/queue"}',
        Category.INVALID,
        None,
        "Nothing answers at",
    ),
    (
        "405 a page",
        405,
        HTML,
        "<html>Method Not Allowed</html>",
        Category.INVALID,
        None,
        "does not take runs",
    ),
    (
        "413",
        413,
        {"content-type": "text/plain"},
        "Request Entity Too Large",
        Category.INVALID,
        None,
        "too large",
    ),
    (
        "422",
        422,
        JSON,
        '{"message": "unprocessable"}',
        Category.INVALID,
        None,
        "HTTP 422",
    ),
    (
        "429 seconds",
        429,
        {"retry-after": "30"},
        "",
        Category.RATE_LIMITED,
        None,
        "busy",
    ),
    (
        "429 date",
        429,
        {"retry-after": "Thu, 03 Dec 2026 12:05:00 GMT"},
        "",
        Category.RATE_LIMITED,
        None,
        "busy",
    ),
    (
        "429 garbage",
        429,
        {"retry-after": "soon"},
        "",
        Category.RATE_LIMITED,
        None,
        "busy",
    ),
    (
        "301 to https",
        301,
        {"location": "https://gw.example.test/api/queue"},
        "",
        Category.REDIRECTED,
        None,
        "redirected",
    ),
    (
        "302 to a login page",
        302,
        {"location": "https://sso.example.test/login"},
        "",
        Category.REDIRECTED,
        None,
        "redirected",
    ),
    ("307", 307, {"location": "/elsewhere"}, "", Category.REDIRECTED, None, "HTTP 307"),
    ("308 no location", 308, {}, "", Category.REDIRECTED, None, "HTTP 308"),
    (
        "200 non-zero unknown code",
        200,
        JSON,
        envelope(12345, "Quota exceeded"),
        Category.REJECTED,
        12345,
        "code 12345",
    ),
    (
        "200 code as string",
        200,
        JSON,
        envelope("0", "success"),
        Category.QUEUED,
        0,
        "queued",
    ),
    (
        "200 code as string non-zero",
        200,
        JSON,
        envelope("10000", "Plan with id 681 not found!"),
        Category.REJECTED,
        10000,
        "Plan 681 was not found",
    ),
    (
        "200 code not a number",
        200,
        JSON,
        envelope("zero", "success"),
        Category.GATEWAY,
        None,
        "unexpected form",
    ),
    (
        "200 code null",
        200,
        JSON,
        envelope(None, "success"),
        Category.GATEWAY,
        None,
        "unexpected form",
    ),
    (
        "200 extra fields",
        200,
        JSON,
        json.dumps(
            {
                "data": {"x": 1},
                "trace": "t",
                "result": {"code": 0, "message": "success", "extra": 1},
            }
        ),
        Category.QUEUED,
        0,
        "queued",
    ),
    (
        "200 missing result",
        200,
        JSON,
        '{"data": null}',
        Category.GATEWAY,
        None,
        "unexpected form",
    ),
    (
        "200 missing message",
        200,
        JSON,
        '{"data": null, "result": {"code": 0}}',
        Category.QUEUED,
        0,
        "queued",
    ),
    ("200 empty body", 200, JSON, "", Category.GATEWAY, None, "unexpected form"),
    (
        "200 not json",
        200,
        {"content-type": "text/plain"},
        "OK",
        Category.GATEWAY,
        None,
        "unexpected form",
    ),
    (
        "200 html login page",
        200,
        HTML,
        "<html><title>Sign in</title><form>…</form></html>",
        Category.GATEWAY,
        None,
        "unexpected form",
    ),
    (
        "200 truncated json",
        200,
        JSON,
        '{"data": null, "result": {"co',
        Category.GATEWAY,
        None,
        "unexpected form",
    ),
    (
        "200 json array",
        200,
        JSON,
        "[1, 2, 3]",
        Category.GATEWAY,
        None,
        "unexpected form",
    ),
    ("201 success", 201, JSON, envelope(0, "success"), Category.QUEUED, 0, "queued"),
    ("418", 418, {}, "I'm a teapot", Category.INVALID, None, "HTTP 418"),
    ("599", 599, {}, "", Category.GATEWAY, None, "HTTP 599"),
    ("100", 100, {}, "", Category.GATEWAY, None, "unexpected answer"),
]


@pytest.mark.parametrize(
    ("status", "headers", "body", "category", "code", "title"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_every_known_answer_decodes_to_one_category(
    status, headers, body, category, code, title
):
    # Decoded as runs are, through a redactor that knows a token: what it takes
    # out must never change what the answer means.
    redactor = Redactor()
    redactor.add("Zq7mK2pX9vR4tL8nW3yB6cH1dF5gJ0sA")
    exchange = Exchange(Answer(status, headers, body.encode()), None, 1, 42)
    outcome = decode(exchange, CONTEXT, redactor.redact)
    assert outcome.category is category
    assert outcome.code == code
    assert title in outcome.title
    assert outcome.http_status == status
    assert outcome.advice
    assert outcome.support
    assert outcome.queued is (category is Category.QUEUED)
    assert outcome.plan_id == 681
    assert outcome.user_id == 7
    assert outcome.duration_ms == 42


def test_documented_codes_are_worded_with_the_ids_sent():
    plan = decode(
        Exchange(Answer(200, JSON, envelope(10000, "x").encode()), None, 1, 1), CONTEXT
    )
    user = decode(
        Exchange(Answer(200, JSON, envelope(10002, "x").encode()), None, 1, 1), CONTEXT
    )
    assert "681" in plan.title
    assert "681" in plan.advice
    assert "gw.example.test" in plan.advice
    assert "7" in user.title
    assert "User 7" in user.advice


def test_the_gateway_message_is_kept_as_sent():
    message = "Plan with id 681 not found!"
    outcome = decode(
        Exchange(Answer(200, JSON, envelope(10000, message).encode()), None, 1, 1),
        CONTEXT,
    )
    assert outcome.message == message
    assert outcome.facts["envelope"] == f"code 10000: {message}"


def test_html_pages_become_a_short_tag_free_excerpt():
    outcome = decode(
        Exchange(Answer(502, HTML, NGINX_502.encode()), None, 1, 1), CONTEXT
    )
    excerpt = outcome.facts["body_excerpt"]
    assert "<" not in excerpt
    assert "alert" not in excerpt
    assert "color:red" not in excerpt
    assert "502 Bad Gateway" in excerpt
    assert "nginx" in excerpt


def test_excerpts_are_capped():
    text = text_excerpt(
        "<html><body>" + "word " * 10000 + "</body></html>", "text/html"
    )
    assert len(text) <= 300
    assert text.endswith("…")


def test_redirects_keep_the_location_for_support():
    answer = Answer(302, {"location": "https://sso.example.test/login"}, b"")
    outcome = decode(Exchange(answer, None, 1, 1), CONTEXT)
    assert "sign-in page" in outcome.advice
    assert outcome.facts["location"] == "https://sso.example.test/login"


def test_retry_after_is_read_as_seconds_or_a_date():
    assert retry_after_seconds("30", NOW) == 30
    assert retry_after_seconds("Thu, 03 Dec 2026 12:05:00 GMT", NOW) == 300
    assert retry_after_seconds("Thu, 03 Dec 2026 11:00:00 GMT", NOW) == 0
    assert retry_after_seconds("soon", NOW) is None
    outcome = decode(
        Exchange(Answer(429, {"retry-after": "120"}, b""), None, 1, 1), CONTEXT
    )
    assert "in 2 min" in outcome.advice


def test_www_authenticate_parameters_are_parsed():
    params = parse_www_authenticate(
        'Bearer realm="gw", error="invalid_token", error_description="It \\"expired\\""'
    )
    assert params == {
        "scheme": "Bearer",
        "realm": "gw",
        "error": "invalid_token",
        "error_description": 'It "expired"',
    }


def test_auth_outcome_mentions_a_known_expiry():
    context = RunContext(
        **{**CONTEXT.__dict__, "token_expiry": "expired 3 h ago", "token_expired": True}
    )
    outcome = decode(Exchange(Answer(401, {}, b""), None, 1, 1), context)
    assert outcome.category is Category.AUTH
    assert "expired 3 h ago" in outcome.title


# Transport failures: never left (network) or may have been received (unknown).
FAILURES = [
    ("dns", False, Category.NETWORK, "Cannot find the gateway host"),
    ("connect", False, Category.NETWORK, "Cannot connect"),
    ("connect_timeout", False, Category.NETWORK, "timed out"),
    ("tls", False, Category.NETWORK, "not trusted"),
    ("proxy", False, Category.NETWORK, "proxy"),
    ("pool_timeout", False, Category.NETWORK, "Cannot connect"),
    ("header", False, Category.NETWORK, "could not be sent"),
    ("cancelled", False, Category.NETWORK, "cancelled before it connected"),
    ("read_timeout", True, Category.UNKNOWN, "No answer within 30 s"),
    ("dropped", True, Category.UNKNOWN, "connection dropped"),
    ("write", True, Category.UNKNOWN, "while sending"),
    ("cancelled", True, Category.UNKNOWN, "cancelled while waiting"),
]


@pytest.mark.parametrize(("kind", "sent", "category", "title"), FAILURES)
def test_transport_failures_say_whether_the_plan_may_be_queued(
    kind, sent, category, title
):
    exchange = Exchange(None, Failure(kind, "detail", sent), 1, 5)
    outcome = decode(exchange, CONTEXT)
    assert outcome.category is category
    assert title in outcome.title
    assert outcome.http_status is None
    if category is Category.UNKNOWN:
        assert "before running it again" in outcome.advice
        assert Category.UNKNOWN.may_be_queued == "maybe"
    else:
        assert "Nothing was sent" in outcome.advice


def test_a_2xx_whose_body_was_cut_off_may_have_been_queued():
    answer = Answer(200, JSON, b'{"data": nu', interrupted="the connection failed")
    outcome = decode(Exchange(answer, None, 1, 1), CONTEXT)
    assert outcome.category is Category.UNKNOWN


def test_facts_and_words_pass_through_the_redactor():
    token = "s3cr3t-token-value"
    body = envelope(1000, f"bad token {token}").encode()
    outcome = decode(
        Exchange(Answer(401, JSON, body), None, 1, 1),
        CONTEXT,
        redact=lambda text: text.replace(token, "[REDACTED]"),
    )
    assert token not in json.dumps(outcome.to_dict())
    assert "[REDACTED]" in outcome.message


def test_outcome_json_keeps_ids_as_integers():
    big = 9223372036854775807
    context = RunContext(**{**CONTEXT.__dict__, "plan_id": big, "user_id": big})
    outcome = decode(
        Exchange(Answer(200, JSON, envelope(0, "success").encode()), None, 1, 1),
        context,
    )
    document = json.loads(json.dumps(outcome.to_dict()))
    assert document["plan_id"] == big
    assert document["user_id"] == big
    for key in (
        "outcome",
        "queued",
        "http_status",
        "code",
        "message",
        "title",
        "advice",
        "plan_id",
        "user_id",
        "profile",
        "gateway_url",
        "duration_ms",
    ):
        assert key in document


def test_a_read_timeout_names_the_time_really_waited_for_the_answer():
    failure = Failure("read_timeout", "timed out", True, waited_ms=3004)
    outcome = decode(Exchange(None, failure, 1, 6010), CONTEXT)
    assert outcome.title.startswith("No answer within 3 s:")
    assert outcome.facts["waited_for_answer_ms"] == "3004"


@pytest.mark.parametrize("proxy", [None, "http://alice:***@proxy.test:3128"])
def test_a_407_answer_is_a_proxy_sign_in_never_the_gateways_refusal(proxy):
    context = RunContext(**{**CONTEXT.__dict__, "proxy": proxy})
    headers = {**HTML, "proxy-authenticate": 'Basic realm="corp"'}
    answer = Answer(407, headers, b"<html><h1>Sign in</h1></html>")
    outcome = decode(Exchange(answer, None, 1, 1), context)
    assert outcome.category is Category.NETWORK
    assert outcome.http_status == 407
    assert "sign-in (HTTP 407)" in outcome.title
    assert (proxy or "A proxy") in outcome.title
    assert "gateway URL" not in outcome.advice
    assert "proxy setting" in outcome.advice
    assert outcome.facts["proxy-authenticate"] == 'Basic realm="corp"'


def test_a_tunnel_refused_with_407_reads_like_a_407_answer():
    context = RunContext(**{**CONTEXT.__dict__, "proxy": "http://proxy.test:3128"})
    failure = Failure(
        "proxy", "407 Proxy Authentication Required", False, proxy_status=407
    )
    refused = decode(Exchange(None, failure, 1, 1), context)
    answered = decode(Exchange(Answer(407, HTML, b""), None, 1, 1), context)
    assert refused.category is answered.category is Category.NETWORK
    assert refused.title == answered.title
    assert refused.advice == answered.advice


PAGES_OF_OPENINGS = ["<", "<script ", "<title>", "<head>x", "<style", "<a ", "</script"]


@pytest.mark.timeout(4)
def test_pages_of_one_repeated_opening_are_read_in_one_pass():
    # Together these took seven seconds (the "<" alone five) when every opening
    # was followed to the end of the page; read in one pass, 30 ms.
    for unit in PAGES_OF_OPENINGS:
        page = "<html><title>Gateway</title>" + unit * (256 * 1024 // len(unit))
        assert text_excerpt(page, "text/html").startswith("Gateway")


def test_an_excerpt_drops_scripts_styles_and_the_head_but_keeps_the_title():
    page = (
        "<html><head><title>502 Bad &amp; Gateway</title><style>p{}</style></head>"
        "<body><script>var a = '<b>';</script><h1>Oops</h1><p>try <b>later</b></p>"
    )
    assert text_excerpt(page, "text/html") == "502 Bad & Gateway: Oops try later"


@pytest.mark.parametrize("sent", [True, False])
@pytest.mark.parametrize(
    "kind", ["dns", "connect", "connect_timeout", "tls", "proxy", "dropped"]
)
def test_a_failures_own_full_stop_does_not_double_the_sentences(kind, sent):
    failure = Failure(kind, "Server disconnected without sending a response. ", sent)
    outcome = decode(Exchange(None, failure, 1, 5), CONTEXT)
    assert "without sending a response" in outcome.support
    assert ".." not in outcome.support
    assert ". )" not in outcome.support


@pytest.mark.parametrize(
    ("retry_after", "words"),
    [
        ("120", "again in 2 min."),
        ("Thu, 03 Dec 2026 11:00:00 GMT", "again now: the time it asked to wait has"),
        ("0", "again now"),
        ("9" * 35, "again later: it asks to wait 7 days or more, which is unusual"),
        ("Fri, 31 Dec 9999 23:59:59 GMT", "again later: it asks to wait 7 days or"),
        ("soon", "again in a minute or two."),
    ],
)
def test_a_rate_limit_asks_for_a_wait_a_person_can_follow(retry_after, words):
    answer = Answer(429, {"retry-after": retry_after}, b"")
    outcome = decode(Exchange(answer, None, 1, 1), CONTEXT)
    assert words in outcome.advice
