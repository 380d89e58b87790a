"""Generated gateway answers: no exception escapes, every answer gets a category."""

import io
import json
from contextlib import redirect_stdout
from datetime import UTC, datetime

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli.run import EXIT_CODES, _print
from app.core.exchange import Answer, ClientSettings, Exchange
from app.core.http import build_client
from app.core.outcome import Category, RunContext, decode
from app.core.redact import Redactor
from app.core.runner import Runner, RunRequest
from app.core.urls import parse_gateway_url

CONTEXT = RunContext(
    plan_id=9223372036854775807,
    user_id=1,
    queue_url="https://gw.example.test/queue",
    host="gw.example.test",
    profile="p",
    started_at=datetime(2026, 12, 3, tzinfo=UTC),
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
codes = st.one_of(
    st.sampled_from([0, 1000, 10000, 10002, 400, 500]),
    st.integers(),
    st.text(max_size=6),
    st.none(),
    st.floats(allow_nan=True),
    st.booleans(),
)
envelopes = st.fixed_dictionaries(
    {
        "result": st.one_of(
            st.fixed_dictionaries(
                {
                    "code": codes,
                    "message": st.one_of(
                        st.text(max_size=40), st.none(), st.integers()
                    ),
                }
            ),
            json_values,
        )
    },
    optional={"data": json_values, "extra": json_values},
)
bodies = st.one_of(
    envelopes.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=200),
    st.text(max_size=200).map(
        lambda t: f"<html><title>{t}</title><body>{t}</body></html>".encode(
            "utf-8", "surrogatepass"
        )
    ),
    envelopes.map(lambda d: json.dumps(d).encode()[: len(json.dumps(d)) // 2]),
)
header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60
)
headers = st.dictionaries(
    st.sampled_from(
        [
            "content-type",
            "www-authenticate",
            "retry-after",
            "location",
            "server",
            "x-request-id",
        ]
    ),
    st.one_of(
        header_values,
        st.sampled_from(
            [
                'Bearer error="invalid_token", error_description="expired"',
                "30",
                "Thu, 03 Dec 2026 12:05:00 GMT",
                "-1",
                "99999999999999999999",
            ]
        ),
    ),
    max_size=4,
)
statuses = st.one_of(
    st.sampled_from(
        [200, 201, 204, 301, 302, 400, 401, 403, 404, 405, 413, 429, 500, 502, 503, 504]
    ),
    st.integers(100, 599),
)


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    status=statuses,
    head=headers,
    body=bodies,
    truncated=st.booleans(),
    interrupted=st.one_of(st.none(), st.just("dropped")),
)
def test_the_decoder_gives_every_generated_answer_one_category(
    status, head, body, truncated, interrupted
):
    outcome = decode(
        Exchange(Answer(status, head, body, truncated, interrupted), None, 1, 3),
        CONTEXT,
    )
    assert isinstance(outcome.category, Category)
    assert outcome.title
    assert outcome.advice
    assert outcome.support
    if outcome.category is Category.QUEUED:
        assert 200 <= status < 300
        assert outcome.code == 0
    json.dumps(outcome.to_dict())


def make_runner(status, head, body):
    def respond(request):
        return httpx.Response(status, headers=head, content=body)

    return Runner(
        Redactor(),
        client_factory=lambda settings, canceller: build_client(
            settings, canceller, transport=httpx.MockTransport(respond)
        ),
    )


REQUEST = RunRequest(
    plan_id=681,
    user_id=1,
    gateway=parse_gateway_url("https://gw.example.test/api"),
    token="hostile-test-token",
    profile=None,
    client=ClientSettings(),
)


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(status=statuses, head=headers, body=bodies, as_json=st.booleans())
def test_the_cli_path_survives_every_generated_answer(status, head, body, as_json):
    head = {k: v for k, v in head.items() if k != "content-length"}
    result = make_runner(status, head, body).run(REQUEST)
    out = io.StringIO()
    with redirect_stdout(out):
        _print(result.outcome, as_json, Redactor())  # one that knows no token
    assert EXIT_CODES[result.outcome.category] in {0, 3, 4, 5, 6, 7}
    assert "hostile-test-token" not in out.getvalue()
    if as_json:
        assert json.loads(out.getvalue())["outcome"] == result.outcome.category.value
