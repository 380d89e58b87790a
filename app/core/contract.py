"""The gateway's contract: the request body and the response envelope."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.errors import InputError

LONG_MAX = 2**63 - 1
"""The largest value of a Java ``Long``: the gateway's type for IDs."""

_LONG_MAX_DIGITS = len(str(LONG_MAX))

PositiveLong = Annotated[int, Field(strict=True, ge=1, le=LONG_MAX)]


class QueueRequest(BaseModel):
    """The body of ``POST /queue``: which plan to run, on whose behalf."""

    model_config = ConfigDict(strict=True, frozen=True, populate_by_name=True)

    plan_id: PositiveLong = Field(alias="planId")
    user_id: PositiveLong = Field(alias="userId")

    def body(self) -> bytes:
        """Return the JSON body, IDs as integers written digit for digit."""
        # json.dumps writes Python ints exactly, however large: no float detour.
        payload = {"planId": self.plan_id, "userId": self.user_id}
        return json.dumps(payload, separators=(",", ":")).encode()


class EnvelopeResult(BaseModel):
    """The ``result`` part of the envelope."""

    model_config = ConfigDict(extra="ignore")

    # Lax on purpose: real gateways send the code as a string of digits.
    code: int
    message: str | None = None


class Envelope(BaseModel):
    """The gateway's response envelope, read leniently."""

    model_config = ConfigDict(extra="ignore")

    data: Any = None
    result: EnvelopeResult


def parse_envelope(document: object) -> Envelope | None:
    """Return the envelope in a decoded JSON document, or None if it is not one."""
    if not isinstance(document, dict) or "result" not in document:
        return None
    try:
        return Envelope.model_validate(document)
    except ValidationError:
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
