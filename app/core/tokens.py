"""Bearer tokens: cleaning what people paste, and facts that never reveal them."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from app.core.errors import InputError

# RFC 6750 b64token: the characters a bearer token may hold.
_TOKEN_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="
)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019"
_PREFIX = re.compile(r"^(?:authorization\s*:\s*)?bearer(?:\s+|$)", re.IGNORECASE)

MAX_TOKEN_LENGTH = 16 * 1024
MIN_TOKEN_LENGTH = 8


def clean_token(raw: str) -> str:
    """Return the token inside what a person pasted.

    Surrounding white space, line breaks and quotes go, and so does a pasted
    ``Bearer`` or ``Authorization: Bearer`` prefix, in any case, even twice.

    Raises:
        InputError: The token is empty, too long, or holds a character a bearer
            token cannot contain. The message names the position, never the token.
    """
    token = raw
    previous = None
    while token != previous:
        previous = token
        token = token.strip().strip(_QUOTES)
        token = _PREFIX.sub("", token, count=1)
    if not token:
        raise InputError("The token is empty: paste the access token itself.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InputError(
            f"The token is {len(token)} characters long; at most "
            f"{MAX_TOKEN_LENGTH} are accepted. Check that only the token was copied."
        )
    for index, char in enumerate(token):
        if char not in _TOKEN_CHARS:
            raise InputError(
                f"The token cannot contain {_describe(char)} "
                f"(at position {index + 1} of {len(token)}). "
                "Copy the token again, without anything around it."
            )
    if len(token) < MIN_TOKEN_LENGTH:
        raise InputError(
            f"The token is only {len(token)} "
            f"character{'' if len(token) == 1 else 's'} long; access tokens are "
            "much longer. Copy the whole token."
        )
    equals = token.find("=")
    if equals != -1 and token[equals:].strip("=") != "":
        raise InputError(
            f"The token has '=' inside it (at position {equals + 1} of {len(token)}); "
            "'=' may only end a bearer token. Copy the token again."
        )
    return token


def fingerprint(token: str) -> str:
    """Return a short fingerprint that tells tokens apart without revealing them."""
    import hashlib  # noqa: PLC0415 - OpenSSL's binding, not needed to show the window

    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def _describe(char: str) -> str:
    if char == " ":
        return "a space"
    if char in "\r\n":
        return "a line break"
    if char == "\t":
        return "a tab"
    if unicodedata.category(char).startswith("C"):
        return "an invisible control character"
    if not char.isascii():
        name = unicodedata.name(char, "").lower()
        return f"a non-ASCII character ({name})" if name else "a non-ASCII character"
    return f"the character {unicodedata.name(char).lower()} ({char!r})"


@dataclass(frozen=True)
class TokenFacts:
    """What can be said about a token without showing it.

    Attributes:
        length: Number of characters.
        fingerprint: See :func:`fingerprint`.
        is_jwt: Whether it decodes as a JSON Web Token (signature not checked).
        issuer, subject, audience: The JWT's ``iss``, ``sub`` and ``aud`` claims.
        issued_at, expires_at: The JWT's ``iat`` and ``exp`` claims, in UTC.
        problem: Why a token that looks like a JWT could not be read.
    """

    length: int
    fingerprint: str
    is_jwt: bool
    issuer: str | None = None
    subject: str | None = None
    audience: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    problem: str | None = None

    def is_expired(self, now: datetime) -> bool:
        """Return whether the token has visibly expired at ``now``."""
        return self.expires_at is not None and self.expires_at <= now

    def expiry_words(self, now: datetime) -> str:
        """Say when the token expires, relative to ``now``, in words."""
        if self.expires_at is None:
            return "expiry unknown (not a JWT)" if not self.is_jwt else "no expiry"
        delta = (self.expires_at - now).total_seconds()
        if delta <= 0:
            return f"expired {humanize_seconds(-delta)} ago"
        return f"expires in {humanize_seconds(delta)}"

    def as_dict(self, now: datetime) -> dict[str, object]:
        """Return the facts as plain data (for JSON, bundles and the GUI)."""
        return {
            "length": self.length,
            "fingerprint": self.fingerprint,
            "is_jwt": self.is_jwt,
            "issuer": self.issuer,
            "subject": self.subject,
            "audience": self.audience,
            "issued_at": _iso(self.issued_at),
            "expires_at": _iso(self.expires_at),
            "expired": self.is_expired(now),
            "expiry": self.expiry_words(now),
            "problem": self.problem,
        }


def token_facts(token: str) -> TokenFacts:
    """Work out the facts of a token locally.

    The JWT signature is not checked: the token goes nowhere but the gateway,
    which is the only party that can check it.
    """
    length, print_ = len(token), fingerprint(token)
    if token.count(".") != 2 or not token.startswith("eyJ"):
        return TokenFacts(length, print_, is_jwt=False)
    import jwt  # noqa: PLC0415 - only status and diagnostics need PyJWT

    try:
        claims = jwt.decode(
            token,
            options={"verify_signature": False, "verify_exp": False},
            algorithms=None,
        )
    except jwt.PyJWTError as error:
        problem = f"looks like a JWT but cannot be read ({type(error).__name__})"
        return TokenFacts(length, print_, is_jwt=False, problem=problem)
    if not isinstance(claims, dict):
        return TokenFacts(length, print_, is_jwt=False, problem="the JWT has no claims")
    audience = claims.get("aud")
    if isinstance(audience, list):
        audience = ", ".join(str(item) for item in audience)
    return TokenFacts(
        length,
        print_,
        is_jwt=True,
        issuer=_text(claims.get("iss")),
        subject=_text(claims.get("sub")),
        audience=_text(audience),
        issued_at=_timestamp(claims.get("iat")),
        expires_at=_timestamp(claims.get("exp")),
    )


def humanize_seconds(seconds: float) -> str:
    """Say a duration the way a person would: ``3 h``, ``12 min``, ``2 days``."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{int(seconds)} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{round(minutes)} min"
    hours = minutes / 60
    if hours < 36:
        return f"{round(hours)} h"
    days = round(hours / 24)
    return f"{days} days"


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:200]


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
