from datetime import UTC, datetime, timedelta

import jwt
import pytest

from app.core.errors import InputError
from app.core.tokens import clean_token, fingerprint, humanize_seconds, token_facts

TOKEN = "abc.DEF-123_~+/xyz="


@pytest.mark.parametrize(
    "pasted",
    [
        TOKEN,
        f"  {TOKEN}\n",
        f"\r\n{TOKEN}\r\n",
        f'"{TOKEN}"',
        f"'{TOKEN}'",
        f"Bearer {TOKEN}",
        f"bearer   {TOKEN}",
        f"BEARER {TOKEN}",
        f"Bearer Bearer {TOKEN}",
        f'"Bearer {TOKEN}"\n',
        f"Authorization: Bearer {TOKEN}",
        f"\u201c{TOKEN}\u201d",
    ],
)
def test_pasted_tokens_are_cleaned(pasted):
    assert clean_token(pasted) == TOKEN


@pytest.mark.parametrize(
    ("pasted", "where"),
    [
        ("abc def", "a space (at position 4 of 7)"),
        ("abc\ndef", "a line break (at position 4 of 7)"),
        ("abc\u200bdef", "invisible control character"),
        ("abcédef", "non-ASCII character"),
        ("abc,def", "comma"),
        ("abcd=efgh", "'=' inside it"),
    ],
)
def test_impossible_characters_are_named_by_position_without_echoing(pasted, where):
    with pytest.raises(InputError) as caught:
        clean_token(pasted)
    assert where in str(caught.value)
    assert pasted not in str(caught.value)


@pytest.mark.parametrize("pasted", ["", "   ", "Bearer ", '""', "Bearer"])
def test_empty_tokens_are_refused(pasted):
    with pytest.raises(InputError, match="empty"):
        clean_token(pasted)


def test_fingerprint_is_stable_and_does_not_contain_the_token():
    assert fingerprint(TOKEN) == fingerprint(TOKEN)
    assert fingerprint(TOKEN) != fingerprint(TOKEN + "x")
    assert TOKEN not in fingerprint(TOKEN)


NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def make_jwt(**claims):
    return jwt.encode(claims, "secret-key-of-at-least-32-bytes!!", algorithm="HS256")


def test_expired_jwt_facts_say_how_long_ago():
    token = make_jwt(
        iss="https://idp.example.test",
        sub="qa-bot",
        aud=["gateway", "ui"],
        iat=int((NOW - timedelta(hours=5)).timestamp()),
        exp=int((NOW - timedelta(hours=3)).timestamp()),
    )
    facts = token_facts(token)
    assert facts.is_jwt
    assert facts.issuer == "https://idp.example.test"
    assert facts.subject == "qa-bot"
    assert facts.audience == "gateway, ui"
    assert facts.is_expired(NOW)
    assert facts.expiry_words(NOW) == "expired 3 h ago"


def test_valid_jwt_facts_say_when_it_expires():
    token = make_jwt(sub="a", exp=int((NOW + timedelta(minutes=12)).timestamp()))
    facts = token_facts(token)
    assert not facts.is_expired(NOW)
    assert facts.expiry_words(NOW) == "expires in 12 min"


def test_opaque_token_has_unknown_expiry():
    facts = token_facts("opaque-token-123")
    assert not facts.is_jwt
    assert facts.expiry_words(NOW) == "expiry unknown (not a JWT)"
    assert facts.length == len("opaque-token-123")


def test_malformed_jwt_is_reported_not_raised():
    facts = token_facts("eyJhbGciOi.broken.sig")
    assert not facts.is_jwt
    assert facts.problem is not None


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(5, "5 s"), (600, "10 min"), (3 * 3600, "3 h"), (3 * 86400, "3 days")],
)
def test_durations_read_like_a_person_says_them(seconds, words):
    assert humanize_seconds(seconds) == words


@pytest.mark.parametrize("pasted", ["a", "abc", "Bearer abcdefg"])
def test_tokens_too_short_to_be_real_are_refused(pasted):
    with pytest.raises(InputError, match=r"characters? long"):
        clean_token(pasted)
