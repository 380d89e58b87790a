"""The gateway's contract: the request body and the response envelope.

Plain dataclasses and explicit checks: the contract is two IDs out and two
fields back, and every run (the CLI's in particular) starts faster without a
validation library to import. The settings models are pydantic.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from app.core.errors import InputError

LONG_MAX = 2**63 - 1
"""The largest value of a Java ``Long``: the gateway's type for IDs."""

_LONG_MAX_DIGITS = len(str(LONG_MAX))

_CODE_TEXT = re.compile(r"\s*([+-]?[0-9]{1,40})(?:\.0*)?\s*", re.ASCII)
"""A result code sent as text: digits, maybe signed, maybe ``.0``, maybe spaced."""


def is_long_id(value: object) -> bool:
    """Whether ``value`` is an ID the gateway accepts: an int in 1..2^63-1."""
    return type(value) is int and 1 <= value <= LONG_MAX


@dataclass(frozen=True)
class QueueRequest:
    """The body of ``POST /queue``: which plan to run, on whose behalf.

    Raises:
        ValueError: An ID is not an int in 1..2^63-1 (bools, floats and
            strings are refused, not converted).
    """

    plan_id: int
    user_id: int

    def __post_init__(self) -> None:
        """Refuse IDs the gateway would not accept."""
        for name in ("plan_id", "user_id"):
            value = getattr(self, name)
            if not is_long_id(value):
                raise ValueError(
                    f"{name} must be an int in 1..{LONG_MAX}, not {value!r:.40}"
                )

    def body(self) -> bytes:
        """Return the JSON body, IDs as integers written digit for digit."""
        # json.dumps writes Python ints exactly, however large: no float detour.
        payload = {"planId": self.plan_id, "userId": self.user_id}
        return json.dumps(payload, separators=(",", ":")).encode()


@dataclass(frozen=True)
class EnvelopeResult:
    """The ``result`` part of the envelope."""

    code: int
    message: str | None = None


@dataclass(frozen=True)
class Envelope:
    """The gateway's response envelope."""

    result: EnvelopeResult
    data: Any = None


def parse_envelope(document: object) -> Envelope | None:
    """Return the envelope in a decoded JSON document, or None if it is not one.

    Read leniently, as real gateways write it: unknown fields are ignored, and
    the code may come as a number or as a string of digits (``"10000"``,
    ``10000.0``). A message that is not text is left out: the code alone says
    whether the run was queued.
    """
    if not isinstance(document, dict):
        return None
    result = document.get("result")
    if not isinstance(result, dict):
        return None
    code = _code(result.get("code"))
    if code is None:
        return None
    message = result.get("message")
    text = message if isinstance(message, str) else None
    return Envelope(EnvelopeResult(code, text), document.get("data"))


def _code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        match = _CODE_TEXT.fullmatch(value)
        return int(match.group(1)) if match else None
    return None


def parse_id(text: str, what: str) -> int:
    """Read an ID typed by a person.

    Args:
        text: What was typed; surrounding white space is ignored.
        what: ``"plan"`` or ``"user"``, for the message.

    Returns:
        The ID, an integer in 1..2^63-1.

    Raises:
        InputError: The text is empty, not a whole number, or out of range.
    """
    cleaned = text.strip()
    if not cleaned:
        raise InputError(f"Enter a {what} ID.")
    if not cleaned.isascii() or not cleaned.isdigit():
        raise InputError(
            f"The {what} ID must be a whole number made of digits only "
            f"(got {_quote_short(cleaned)})."
        )
    # Leading zeros change nothing; more significant digits than LONG_MAX has
    # is too large, and is refused before int(), whose digit limit would raise.
    significant = cleaned.lstrip("0")
    if len(significant) > _LONG_MAX_DIGITS:
        raise _too_large(what)
    value = int(significant or "0")
    if value < 1:
        raise InputError(f"The {what} ID must be 1 or more.")
    if value > LONG_MAX:
        raise _too_large(what)
    return value


def id_problem(text: str, what: str) -> str | None:
    """Return why ``text`` is not a valid ID, or None when it is one."""
    try:
        parse_id(text, what)
    except InputError as error:
        return str(error)
    return None


def _too_large(what: str) -> InputError:
    return InputError(
        f"The {what} ID is too large: the gateway accepts at most {LONG_MAX}."
    )


def _quote_short(text: str, limit: int = 24) -> str:
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(shown)
