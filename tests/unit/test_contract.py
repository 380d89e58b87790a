import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.contract import LONG_MAX, QueueRequest, parse_envelope, parse_id
from app.core.errors import InputError


@pytest.mark.parametrize("value", [1, 681, 2**31, 2**53 + 1, LONG_MAX])
def test_ids_across_the_long_range_are_accepted(value):
    request = QueueRequest(plan_id=value, user_id=value)
    assert request.plan_id == value


@pytest.mark.parametrize(
    "value", [0, -1, LONG_MAX + 1, True, False, 1.0, "1", None, 2.5e3]
)
def test_ids_outside_the_range_or_of_another_type_are_refused(value):
    with pytest.raises(ValueError, match="plan_id must be an int"):
        QueueRequest(plan_id=value, user_id=1)
    with pytest.raises(ValueError, match="user_id must be an int"):
        QueueRequest(plan_id=1, user_id=value)


@pytest.mark.parametrize("value", [2**53 + 1, 2**53 + 3, LONG_MAX, 1234567890123456789])
def test_ids_above_2_53_reach_the_body_digit_for_digit(value):
    body = QueueRequest(plan_id=value, user_id=value - 1).body()
    assert body == f'{{"planId":{value},"userId":{value - 1}}}'.encode()
    # Not a string, not a float, not an exponent: the exact digits as a JSON integer.
    assert f'"{value}"'.encode() not in body
    assert json.loads(body)["planId"] == value


@given(st.integers(min_value=1, max_value=LONG_MAX), st.integers(1, LONG_MAX))
def test_any_valid_ids_round_trip_exactly_through_json(plan, user):
    decoded = json.loads(QueueRequest(plan_id=plan, user_id=user).body())
    assert decoded == {"planId": plan, "userId": user}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("681", 681), ("  42 ", 42), (str(LONG_MAX), LONG_MAX), ("0009", 9)],
)
def test_typed_ids_are_read(text, expected):
    assert parse_id(text, "plan") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter a plan ID"),
        ("abc", "whole number"),
        ("-5", "whole number"),
        ("1.5", "whole number"),
        ("1e3", "whole number"),
        ("٣", "whole number"),  # an Arabic-Indic digit: isdigit() but not ASCII
        ("0", "1 or more"),
        (str(LONG_MAX + 1), "too large"),
        ("9" * 400, "too large"),
    ],
)
def test_typed_ids_that_cannot_be_sent_say_why(text, message):
    with pytest.raises(InputError, match=message):
        parse_id(text, "plan")


def test_envelope_is_read_leniently():
    envelope = parse_envelope(
        {
            "data": [1, 2],
            "extra": 1,
            "result": {"code": "10000", "message": "x", "z": 1},
        }
    )
    assert envelope is not None
    assert envelope.result.code == 10000
    assert envelope.data == [1, 2]


@pytest.mark.parametrize(
    "document",
    [None, [], "text", {"data": None}, {"result": None}, {"result": {"code": "abc"}}],
)
def test_documents_that_are_not_envelopes_are_recognised(document):
    assert parse_envelope(document) is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (10000, 10000),
        ("10000", 10000),
        (" 10000 ", 10000),
        ("-5", -5),
        (10000.0, 10000),
        ("10000.0", 10000),
        (1.5, None),
        (True, None),
        ("1e3", None),
        ("١٢", None),  # Arabic-Indic digits are not a code
        ("9" * 41, None),
        (None, None),
        ([], None),
    ],
)
def test_the_result_code_is_read_as_real_gateways_write_it(code, expected):
    envelope = parse_envelope({"result": {"code": code}})
    assert (None if envelope is None else envelope.result.code) == expected


@pytest.mark.parametrize("message", [5, ["a"], {"text": "x"}, True])
def test_a_message_that_is_not_text_is_left_out_and_the_code_kept(message):
    envelope = parse_envelope({"result": {"code": 0, "message": message}})
    assert envelope is not None
    assert envelope.result.code == 0
    assert envelope.result.message is None
