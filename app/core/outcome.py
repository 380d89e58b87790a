"""The Outcome of a run: one decoder for everything a gateway can say.

:func:`decode` turns an :class:`~app.core.http.Exchange` into exactly one
:class:`Outcome`. The GUI, the command line, the history and the diagnostics all
show what it decided, so the words for people live here too.

Every text a gateway supplies (its message, an error body, a header value) is
redacted whole, stripped of control characters, then cut to one of three sizes
before it is kept: :data:`MESSAGE_CHARS` for the message itself,
:data:`EXCERPT_CHARS` for excerpts and header values kept as facts, and
:data:`QUOTE_CHARS` where it is quoted inside a line of our own words. A cut
says how much it left out. The GUI, the command line and the history all get
the outcome's texts, so none of them ever holds more than these.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from app.core.contract import Envelope, parse_envelope
from app.core.exchange import Answer, Exchange, Failure, seconds_text
from app.core.tokens import humanize_seconds

MESSAGE_CHARS = 2000
"""The most of a gateway's message an outcome keeps, in characters.

Room for any sentence a person wrote and the top of a stack trace; past that a
message is noise that would bloat every history row and every export.
"""

EXCERPT_CHARS = 300
"""The most of a body excerpt, a JSON body or a header value kept as a fact."""

QUOTE_CHARS = 160
"""The most of a gateway's text quoted inside one line: advice, support, summary.

Longer than any message the contract names (the longest, with a 19-digit ID,
is about 45 characters), short enough to stay within two lines of a label.
"""

MAX_RETRY_AFTER = 7 * 24 * 3600
"""The longest wait a ``Retry-After`` is taken at, in seconds."""


class Category(StrEnum):
    """What became of a run, from the user's point of view."""

    QUEUED = "queued"
    REJECTED = "rejected"
    AUTH = "auth"
    INVALID = "invalid"
    RATE_LIMITED = "rate_limited"
    REDIRECTED = "redirected"
    GATEWAY = "gateway"
    NETWORK = "network"
    UNKNOWN = "unknown"

    @property
    def may_be_queued(self) -> str:
        """Say whether the plan may have been queued: ``yes``, ``no`` or ``maybe``."""
        if self is Category.QUEUED:
            return "yes"
        return "maybe" if self is Category.UNKNOWN else "no"


CODE_AUTH = 1000
CODE_PLAN_NOT_FOUND = 10000
CODE_USER_NOT_FOUND = 10002


@dataclass(frozen=True)
class RunContext:
    """What was asked for: the facts a decoder words its outcome with.

    Attributes:
        plan_id: The plan sent.
        user_id: The user sent.
        queue_url: Where the request went.
        host: The gateway host, for messages.
        profile: The profile's name, or None for an ad-hoc gateway.
        started_at: When the run started (UTC).
        read_timeout: The read timeout in force, for messages.
        token_expiry: The token's expiry in words, when it is known.
        token_expired: Whether the token had visibly expired when sent.
        token_fingerprint: The fingerprint of the token sent.
        proxy: The proxy the run went through (password hidden), if any.
    """

    plan_id: int
    user_id: int
    queue_url: str
    host: str
    profile: str | None
    started_at: datetime
    read_timeout: float = 30.0
    token_expiry: str | None = None
    token_expired: bool = False
    token_fingerprint: str | None = None
    proxy: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How a run ended, in facts and in words.

    Attributes:
        category: See :class:`Category`.
        title: One line that says what happened.
        advice: What the QA engineer should do next.
        support: What support staff should check.
        plan_id, user_id, profile, gateway_url: What was asked, and where.
        http_status: The HTTP status, when an answer came.
        code: The application code of the envelope, when there was one.
        message: The gateway's own message, as sent.
        started_at: When the run started (UTC).
        duration_ms: How long it took.
        facts: Raw facts for diagnosis, redacted.
    """

    category: Category
    title: str
    advice: str
    support: str
    plan_id: int
    user_id: int
    profile: str | None
    gateway_url: str
    http_status: int | None
    code: int | None
    message: str | None
    started_at: datetime
    duration_ms: int
    facts: Mapping[str, str] = field(default_factory=dict)

    @property
    def queued(self) -> bool:
        """Whether the gateway confirmed that the plan was queued."""
        return self.category is Category.QUEUED

    def to_dict(self) -> dict[str, Any]:
        """Return the outcome as plain JSON-ready data; IDs stay integers."""
        return {
            "outcome": self.category.value,
            "queued": self.queued,
            "may_be_queued": self.category.may_be_queued,
            "http_status": self.http_status,
            "code": self.code,
            "message": self.message,
            "title": self.title,
            "advice": self.advice,
            "support": self.support,
            "plan_id": self.plan_id,
            "user_id": self.user_id,
            "profile": self.profile,
            "gateway_url": self.gateway_url,
            "started_at": self.started_at.isoformat(),
            "duration_ms": self.duration_ms,
            "facts": dict(self.facts),
        }

    def summary(self) -> str:
        """Return a short plain-text summary to paste into a chat or a ticket."""
        status = "no answer" if self.http_status is None else f"HTTP {self.http_status}"
        code = "" if self.code is None else f", code {self.code}"
        message = "" if not self.message else f" ({one_line(self.message)})"
        lines = [
            f"{self.title}",
            f"Plan {self.plan_id}, user {self.user_id}, "
            f"profile {self.profile or '(none)'}, {self.gateway_url}",
            f"Outcome: {self.category.value}; {status}{code}{message}; "
            f"{self.duration_ms} ms; "
            f"started {self.started_at.isoformat(timespec='seconds')}",
            f"Next: {self.advice}",
        ]
        return "\n".join(lines)


def local_outcome(
    context: RunContext, category: Category, title: str, advice: str, support: str
) -> Outcome:
    """Return an outcome decided before or without an exchange (a cancelled run)."""
    return Outcome(
        category=category,
        title=title,
        advice=advice,
        support=support,
        plan_id=context.plan_id,
        user_id=context.user_id,
        profile=context.profile,
        gateway_url=context.queue_url,
        http_status=None,
        code=None,
        message=None,
        started_at=context.started_at,
        duration_ms=0,
        facts={},
    )


def decode(
    exchange: Exchange,
    context: RunContext,
    redact: Callable[[str], str] = lambda text: text,
) -> Outcome:
    """Decide the one outcome of an exchange.

    The order: did the request leave the machine; the HTTP status; the envelope
    when the body is one; other known error shapes; a text excerpt otherwise.
    """
    facts: dict[str, str] = {"attempts": str(exchange.attempts)}
    if context.token_fingerprint:
        facts["token_fingerprint"] = context.token_fingerprint
    if context.token_expiry:
        facts["token_expiry"] = context.token_expiry
    if exchange.failure is not None:
        verdict = _decode_failure(exchange.failure, context, facts)
        status, code, message = None, None, None
    else:
        assert exchange.answer is not None  # noqa: S101 - an exchange has one or the other
        reading = _read_answer(exchange.answer, facts, redact)
        verdict = _decode_answer(exchange.answer, reading, context)
        status = exchange.answer.status
        code = reading.envelope.result.code if reading.envelope else None
        message = reading.message

    def clean(text: str) -> str:
        return shown_safely(redact(text))

    return Outcome(
        category=verdict.category,
        title=clean(verdict.title),
        advice=clean(verdict.advice),
        support=clean(verdict.support),
        plan_id=context.plan_id,
        user_id=context.user_id,
        profile=context.profile,
        gateway_url=context.queue_url,
        http_status=status,
        code=code,
        message=None if message is None else cut(clean(message), MESSAGE_CHARS),
        started_at=context.started_at,
        duration_ms=exchange.elapsed_ms,
        facts={key: clean(value) for key, value in facts.items()},
    )


@dataclass(frozen=True)
class _Verdict:
    category: Category
    title: str
    advice: str
    support: str


@dataclass(frozen=True)
class _Reading:
    """What the body and headers of an answer say, shape by shape."""

    headers: Mapping[str, str]
    document: object
    envelope: Envelope | None
    message: str | None
    error: str | None
    error_description: str | None
    www_authenticate: dict[str, str]
    excerpt: str


def _read_answer(
    answer: Answer, facts: dict[str, str], redact: Callable[[str], str]
) -> _Reading:
    # Everything kept is redacted whole before it is cut to size: a cut first
    # could leave part of a token that redaction no longer recognises.
    headers = {name: redact(value) for name, value in answer.headers.items()}
    content_type = headers.get("content-type", "")
    # utf-8-sig: some back ends (.NET's among them) start JSON with a BOM.
    raw_text = answer.body.decode("utf-8-sig", errors="replace")
    document: object = None
    if raw_text.strip():
        try:
            document = json.loads(raw_text)
        except (ValueError, RecursionError):
            document = None
    text = redact(raw_text)
    envelope = parse_envelope(document)
    message: str | None = None
    error: str | None = None
    description: str | None = None
    if envelope is not None:
        message = (
            None if envelope.result.message is None else redact(envelope.result.message)
        )
    elif isinstance(document, dict):
        # A framework's error JSON ({"status", "error", "message", "path"}) or an
        # OAuth2 error ({"error", "error_description"}).
        error = _short(document.get("error"), redact)
        description = _short(document.get("error_description"), redact)
        message = _short(document.get("message"), redact) or description or error
    challenge = parse_www_authenticate(headers.get("www-authenticate", ""))
    excerpt = "" if document is not None else text_excerpt(text, content_type)

    facts["http_status"] = str(answer.status)
    for name in (
        "content-type",
        "content-length",
        "server",
        "via",
        "date",
        "x-request-id",
        "x-correlation-id",
        "location",
        "retry-after",
        "www-authenticate",
        "proxy-authenticate",
    ):
        if name in headers:
            facts[name] = cut(headers[name], EXCERPT_CHARS)
    if envelope is None and document is not None:
        facts["body_json"] = cut(redact(_dump_json(document)), EXCERPT_CHARS)
    if excerpt:
        facts["body_excerpt"] = excerpt
    if answer.truncated:
        facts["body_truncated"] = f"only the first {len(answer.body)} bytes were read"
    if answer.interrupted:
        facts["body_interrupted"] = answer.interrupted
    if answer.unreadable:
        facts["body_unreadable"] = answer.unreadable
    if envelope is not None:
        # The message is kept once, in the outcome's own field; the fact only
        # quotes it.
        said = "" if message is None else f": {one_line(message)}"
        facts["envelope"] = f"code {envelope.result.code}{said}"
    return _Reading(
        headers, document, envelope, message, error, description, challenge, excerpt
    )


def _decode_answer(answer: Answer, reading: _Reading, ctx: RunContext) -> _Verdict:
    status = answer.status
    envelope = reading.envelope
    code = envelope.result.code if envelope is not None else None
    said = _what_was_said(reading)

    if 300 <= status < 400:
        return _redirected(answer.status, reading.headers, ctx)
    if status == 407 and ctx.proxy is None and code == 0:
        # No proxy was used: the 407 is the gateway's own, and its envelope says
        # the run was queued. Neither can be taken at its word.
        return _maybe_queued(
            "The gateway answered HTTP 407 (proxy sign-in) with an answer that says "
            "the plan was queued",
            ctx,
            f"HTTP 407 Proxy Authentication Required came back on a direct "
            f"connection, with an envelope that says the run was queued{said}.",
        )
    if status == 407:
        return _proxy_sign_in(ctx, said, reading.headers.get("proxy-authenticate"))
    # A challenge's error= speaks for a refusal (RFC 6750 sends it with 400, 401
    # and 403); beside a 2xx or a 5xx it is a leftover that decides nothing.
    if (
        status in (401, 403)
        or code == CODE_AUTH
        or (400 <= status < 500 and reading.www_authenticate.get("error"))
    ):
        return _auth(status, code, reading, ctx)
    if status == 429:
        return _rate_limited(reading.headers, ctx, said)
    if code == CODE_PLAN_NOT_FOUND:
        return _Verdict(
            Category.REJECTED,
            f"Plan {ctx.plan_id} was not found",
            f"Check the plan ID. Plan {ctx.plan_id} does not exist on {ctx.host}; "
            "if it exists on another environment, switch to that profile.",
            f"The gateway answered code {code}{said}. The plan ID is unknown on this "
            "gateway; a profile pointing at the wrong environment is the usual cause.",
        )
    if code == CODE_USER_NOT_FOUND:
        return _Verdict(
            Category.REJECTED,
            f"User {ctx.user_id} was not found",
            f"Check the user ID. User {ctx.user_id} does not exist on {ctx.host}; "
            "if the user exists on another environment, switch to that profile.",
            f"The gateway answered code {code}{said}. The user ID is unknown on this "
            "gateway; a profile pointing at the wrong environment is the usual cause.",
        )
    if 200 <= status < 300:
        return _answer_2xx(answer, reading, ctx, said)
    if status == 504:
        return _maybe_queued(
            "The gateway timed out (HTTP 504): the plan may have been queued",
            ctx,
            f"A proxy in front of the gateway gave up waiting (HTTP 504){said}. The "
            "gateway may still have queued the run.",
        )
    if 500 <= status < 600:
        return _gateway_failed(status, ctx, said)
    if envelope is not None and code not in (None, 0) and status != 400:
        return _rejected_by_code(code, ctx, said)
    if 400 <= status < 500:
        return _invalid(status, ctx, said)
    if code == 0:
        return _maybe_queued(
            f"The gateway gave an unexpected answer (HTTP {status}) that says the "
            "plan was queued",
            ctx,
            f"HTTP {status} is not an answer the gateway's contract knows, but its "
            f"envelope says the run was queued{said}.",
        )
    return _Verdict(
        Category.GATEWAY,
        f"The gateway gave an unexpected answer (HTTP {status})",
        "It is unlikely that the plan was queued, but check the test system before "
        "running it again.",
        f"HTTP {status} is not an answer the gateway's contract knows{said}.",
    )


def _answer_2xx(
    answer: Answer, reading: _Reading, ctx: RunContext, said: str
) -> _Verdict:
    envelope = reading.envelope
    if answer.interrupted and envelope is None:
        return _maybe_queued(
            "The answer was cut off: the plan may have been queued",
            ctx,
            f"The gateway answered HTTP {answer.status} but {answer.interrupted}, so "
            "its result code was never read.",
        )
    if envelope is None:
        return _Verdict(
            Category.GATEWAY,
            f"The gateway answered HTTP {answer.status} in an unexpected form",
            "It is unlikely that the plan was queued, but check the test system "
            "before running it again. If this keeps happening, the gateway URL may "
            "point at a web page or a proxy rather than the gateway's API.",
            f"HTTP {answer.status} without the result envelope{said}. Check that the "
            "gateway URL is the API's address and that no proxy rewrites answers.",
        )
    code = envelope.result.code
    if code == 0:
        return _Verdict(
            Category.QUEUED,
            f"Plan {ctx.plan_id} was queued for user {ctx.user_id}",
            "Nothing else to do: the gateway accepted the run. Follow it in the "
            "test system.",
            f"HTTP {answer.status}, code 0{said}.",
        )
    return _rejected_by_code(code, ctx, said)


def _rejected_by_code(code: int, ctx: RunContext, said: str) -> _Verdict:
    return _Verdict(
        Category.REJECTED,
        f"The gateway refused the run (code {code})",
        f"Nothing was queued. The gateway said{said or ' nothing more'}; fix what it "
        "names and run again, or ask the gateway's team what the code means.",
        f"Application code {code}{said} is not one the contract documents.",
    )


def _auth(
    status: int, code: int | None, reading: _Reading, ctx: RunContext
) -> _Verdict:
    challenge = reading.www_authenticate
    error = challenge.get("error") or reading.error or ""
    description = challenge.get("error_description") or reading.error_description or ""
    said = _what_was_said(reading)
    looks_expired = (
        "expired" in description.lower() or "expired" in (reading.message or "").lower()
    )
    where = f"the {ctx.profile!r} profile" if ctx.profile else "this gateway"
    how_to_fix = (
        f"Get a new token for {ctx.host} and set it for {where} "
        "(Settings, or `plan-runner token set`)."
    )
    checks = (
        f"HTTP {status}{'' if code is None else f', code {code}'}{said}. Check that "
        f"the token was issued for {ctx.host} (not another environment), that it "
        "was copied whole, and when it expires (`plan-runner status`)."
    )
    if ctx.token_expired or (looks_expired and ctx.token_expiry):
        return _Verdict(
            Category.AUTH,
            f"Your token has expired ({ctx.token_expiry})",
            how_to_fix,
            checks,
        )
    if looks_expired:
        return _Verdict(Category.AUTH, "Your token has expired", how_to_fix, checks)
    if status == 403 or error == "insufficient_scope":
        return _Verdict(
            Category.AUTH,
            "The gateway refused access (HTTP 403)"
            if status == 403
            else "Your token lacks the permission to queue runs",
            "Nothing was queued. Your token may lack the permission to queue plans, "
            "or a firewall or proxy blocked the call. Ask the gateway's team for "
            "access, with the time of this run.",
            checks,
        )
    reason = {
        "invalid_token": "The gateway rejected your token",
        "invalid_request": "The gateway could not read your token",
    }.get(error, "The gateway did not accept your token")
    expiry = f" The token {ctx.token_expiry}." if ctx.token_expiry else ""
    return _Verdict(
        Category.AUTH,
        reason,
        f"Nothing was queued. {how_to_fix} A token from another environment does "
        f"not work here.{expiry}",
        checks,
    )


def _rate_limited(headers: Mapping[str, str], ctx: RunContext, said: str) -> _Verdict:
    retry_after = headers.get("retry-after")
    wait = retry_after_seconds(retry_after, ctx.started_at)
    if wait is None:
        when = "in a minute or two"
    elif wait < 1:
        when = "now: the time it asked to wait has passed"
    elif wait >= MAX_RETRY_AFTER:
        # Longer is no plan a person can follow, and most likely a mistake.
        when = (
            f"later: it asks to wait {humanize_seconds(wait)} or more, which is "
            "unusual; ask the gateway's team"
        )
    else:
        when = f"in {humanize_seconds(wait)}"
    shown = "(none)" if retry_after is None else one_line(retry_after)
    return _Verdict(
        Category.RATE_LIMITED,
        "The gateway is busy: too many runs at once",
        f"Nothing was queued. Run plan {ctx.plan_id} again {when}.",
        f"HTTP 429{said}; Retry-After: {shown}.",
    )


def _redirected(status: int, headers: Mapping[str, str], ctx: RunContext) -> _Verdict:
    location = headers.get("location", "")
    lowered = location.lower()
    if any(word in lowered for word in ("login", "signin", "sign-in", "sso", "auth")):
        advice = (
            "The gateway URL leads to a sign-in page: it probably points at a web "
            "front end, not the gateway's API. Check the gateway URL in the profile."
        )
    elif location.startswith("https://") and ctx.queue_url.startswith("http://"):
        advice = (
            "The gateway moved to https. Change the profile's gateway URL to start "
            "with https:// and run again."
        )
    else:
        advice = (
            "Check the profile's gateway URL: the gateway sent the run elsewhere. If "
            "the new address is right, put it in the profile."
        )
    return _Verdict(
        Category.REDIRECTED,
        f"The gateway redirected the run (HTTP {status})",
        "Nothing was queued. " + advice,
        f"HTTP {status} to {one_line(location) or '(no Location header)'}. "
        "Redirects are never followed, so the token never goes to another address.",
    )


def _gateway_failed(status: int, ctx: RunContext, said: str) -> _Verdict:
    titles = {
        500: "The gateway failed with an internal error",
        502: "The gateway is unreachable behind its proxy (HTTP 502)",
        503: "The gateway is unavailable (HTTP 503)",
    }
    return _Verdict(
        Category.GATEWAY,
        titles.get(status, f"The gateway failed (HTTP {status})"),
        f"It is unlikely that plan {ctx.plan_id} was queued. Try again in a few "
        "minutes; if it keeps failing, tell the gateway's team the time of this run.",
        f"HTTP {status}{said}. The fault is on the gateway's side (or a proxy in "
        "front of it), not in the request.",
    )


def _invalid(status: int, ctx: RunContext, said: str) -> _Verdict:
    if status == 404:
        return _Verdict(
            Category.INVALID,
            f"Nothing answers at {ctx.queue_url} (HTTP 404)",
            "Nothing was queued. The gateway URL is probably missing a path prefix "
            "(such as /api/v2) or has a wrong one. Check it in the profile.",
            f"HTTP 404{said}. The host answered, but not at this path.",
        )
    if status == 405:
        return _Verdict(
            Category.INVALID,
            "The gateway URL points at something that does not take runs (HTTP 405)",
            "Nothing was queued. Check the profile's gateway URL: it must be the "
            "gateway's API address, not a web page.",
            f"HTTP 405{said}. POST is not allowed at {ctx.queue_url}.",
        )
    if status == 413:
        return _Verdict(
            Category.INVALID,
            "The request was refused as too large (HTTP 413)",
            "Nothing was queued. A proxy between you and the gateway limits request "
            "sizes; tell support.",
            f"HTTP 413{said}. The request body is a few dozen bytes, so a proxy's "
            "limit is the likely cause.",
        )
    if status == 400:
        return _Verdict(
            Category.INVALID,
            "The gateway rejected the request as malformed (HTTP 400)",
            f"Nothing was queued. Check plan {ctx.plan_id} and user {ctx.user_id}; if "
            "they are right, the gateway may expect another version of the API: "
            "tell support.",
            f"HTTP 400{said}. The request body was "
            f'{{"planId": {ctx.plan_id}, "userId": {ctx.user_id}}}.',
        )
    return _Verdict(
        Category.INVALID,
        f"The gateway refused the request (HTTP {status})",
        "Nothing was queued. Check the plan, the user and the profile's gateway URL, "
        "then run again.",
        f"HTTP {status}{said}.",
    )


def _proxy_sign_in(ctx: RunContext, said: str, challenge: str | None) -> _Verdict:
    """Word an HTTP 407: a proxy wants a sign-in; the gateway never saw the run.

    It is the same whether the proxy forwards plain-http runs (the 407 is its
    answer) or refuses to open a tunnel for https ones (no answer at all).
    """
    proxy = f"The proxy {ctx.proxy}" if ctx.proxy else "A proxy on the way"
    if ctx.proxy and "@" in ctx.proxy:
        fix = (
            "It refused the user name and password in the proxy setting: check "
            "them, or ask IT for the right ones."
        )
    else:
        fix = (
            "Put your proxy user name and password in the proxy setting "
            "(http://user:password@host:port), or ask IT."
        )
    where = (
        "The proxy setting is HTTPS_PROXY, HTTP_PROXY or ALL_PROXY, or the "
        "profile's proxy; `plan-runner status` says which applies."
    )
    shown = "" if challenge is None else f"; Proxy-Authenticate: {one_line(challenge)}"
    return _Verdict(
        Category.NETWORK,
        f"{proxy} asks for a sign-in (HTTP 407)",
        f"The run did not get past the proxy, so nothing was queued. {fix} {where}",
        f"HTTP 407 Proxy Authentication Required from "
        f"{ctx.proxy or 'a proxy between this machine and the gateway'}{said}"
        f"{shown}. The gateway {ctx.host} never saw the run.",
    )


def _maybe_queued(title: str, ctx: RunContext, support: str) -> _Verdict:
    return _Verdict(
        Category.UNKNOWN,
        title,
        f"Check the test system for plan {ctx.plan_id} before running it again: "
        "running it again now could queue it twice.",
        support,
    )


def _decode_failure(
    failure: Failure, ctx: RunContext, facts: dict[str, str]
) -> _Verdict:
    facts["failure"] = failure.kind
    facts["failure_detail"] = failure.detail
    facts["request_may_have_left"] = "yes" if failure.sent else "no"
    if failure.waited_ms is not None:
        facts["waited_for_answer_ms"] = str(failure.waited_ms)
    if failure.sent:
        waited = (
            f"{ctx.read_timeout:g}"
            if failure.waited_ms is None
            else seconds_text(failure.waited_ms)
        )
        titles = {
            "read_timeout": f"No answer within {waited} s: "
            "the plan may have been queued",
            "dropped": "The connection dropped before the gateway answered: "
            "the plan may have been queued",
            "cancelled": "The run was cancelled while waiting: "
            "the plan may have been queued",
            "write": "The connection failed while sending: "
            "the plan may have been queued",
            "protocol": "The gateway's answer could not be read: "
            "the plan may have been queued",
        }
        came = (
            "the answer that came could not be read"
            if failure.kind == "protocol"
            else "no answer came"
        )
        return _maybe_queued(
            titles.get(
                failure.kind,
                "The run ended without an answer: the plan may have been queued",
            ),
            ctx,
            f"The request may have reached {ctx.host}, but {came} "
            f"({failure.kind}: {failure.detail}). It was not sent again.",
        )
    nothing_sent = "Nothing was sent, so nothing was queued."
    if failure.kind == "cancelled":
        return _Verdict(
            Category.NETWORK,
            "The run was cancelled before it connected",
            f"{nothing_sent} Run it again when ready.",
            failure.detail,
        )
    if failure.kind == "header":
        return _Verdict(
            Category.NETWORK,
            "The request could not be sent: a header holds characters HTTP forbids",
            f"{nothing_sent} Set the token again, copied whole and without anything "
            "around it (the profile's settings, `plan-runner token set`, or "
            "PLAN_RUNNER_TOKEN); if that does not help, tell support.",
            f"The HTTP client refused to encode the request: {failure.detail}. A "
            "line break or control character in the stored token is the usual "
            "cause (`plan-runner status` shows the token's facts).",
        )
    if failure.kind == "proxy" and failure.proxy_status == 407:
        return _proxy_sign_in(ctx, "", None)
    if ctx.proxy and failure.kind in ("dns", "connect", "connect_timeout", "proxy"):
        return _Verdict(
            Category.NETWORK,
            f"Cannot reach the gateway through the proxy {ctx.proxy}",
            f"{nothing_sent} Runs to {ctx.host} go through the proxy {ctx.proxy}, "
            "which could not be reached, did not answer, or refused the connection. "
            "Check the proxy setting (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, or the "
            "profile's proxy).",
            f"Through proxy {ctx.proxy}: {failure.kind}: {failure.detail}. "
            "`plan-runner status` says where the proxy setting comes from.",
        )
    if failure.kind == "dns":
        return _Verdict(
            Category.NETWORK,
            f"Cannot find the gateway host {ctx.host}",
            f"{nothing_sent} Check the gateway URL for typos, and your network or "
            "VPN connection.",
            f"DNS lookup failed: {failure.detail}.",
        )
    if failure.kind == "tls":
        return _Verdict(
            Category.NETWORK,
            f"The connection to {ctx.host} is not trusted",
            f"{nothing_sent} If your company uses its own certificate authority, ask "
            "IT to install it, or set the extra CA file in the profile.",
            f"TLS to {ctx.host} failed: {failure.detail}. An inspecting company "
            "proxy re-signing traffic is a common cause (`plan-runner diagnose`).",
        )
    if failure.kind == "proxy":
        return _Verdict(
            Category.NETWORK,
            "The proxy refused the connection to the gateway",
            f"{nothing_sent} Check the proxy settings (HTTPS_PROXY, NO_PROXY or the "
            "profile's proxy).",
            f"Proxy failure: {failure.detail}.",
        )
    if failure.kind == "connect_timeout":
        return _Verdict(
            Category.NETWORK,
            f"Connecting to {ctx.host} timed out",
            f"{nothing_sent} The gateway is down or unreachable from here: check "
            "your network or VPN, then run again.",
            f"No TCP connection within the connect timeout: {failure.detail}.",
        )
    return _Verdict(
        Category.NETWORK,
        f"Cannot connect to {ctx.host}",
        f"{nothing_sent} The gateway is down or unreachable from here: check your "
        "network or VPN, then run again.",
        f"Connection failed ({failure.kind}): {failure.detail}.",
    )


def _what_was_said(reading: _Reading) -> str:
    if reading.message:
        return f" '{one_line(reading.message)}'"
    if reading.excerpt:
        return f" '{one_line(reading.excerpt)}'"
    return ""


def _short(
    value: object, redact: Callable[[str], str], limit: int = MESSAGE_CHARS
) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = " ".join(redact(str(value)).split())
    return cut(text, limit) if text else None


def _dump_json(document: object) -> str:
    try:
        return json.dumps(document)
    except (ValueError, RecursionError):
        return "(nested too deeply to show)"


def shown_safely(text: str) -> str:
    """Return ``text`` without control, format or bidirectional characters.

    A gateway's words reach terminals and labels: escape sequences could retitle
    a terminal or repaint a result, and bidirectional overrides could reorder
    what a person reads. Line breaks and tabs become spaces; the rest become
    U+FFFD, so that something odd stays visible.
    """
    if text.isprintable():
        return text
    return "".join(_safe_char(char) for char in text)


def _safe_char(char: str) -> str:
    if char.isprintable():
        return char
    # A carriage return could send the cursor back over what was printed.
    return " " if char in "\t\r\n" else "\ufffd"


_CUT_MARK = re.compile(r"… \(([0-9,]+) more characters?\)\Z")
"""The mark :func:`cut` ends a text with; a second cut adds to its count."""

_LONGEST_CLUSTER = 32
"""How far a cut moves back to keep a character with its combining marks."""


def cut(text: str, limit: int) -> str:
    """Return ``text`` cut to ``limit`` characters, saying how much was left out.

    A cut text ends ``… (12,345 more characters)``, so the mark adds a few
    dozen characters to ``limit``. The cut falls between characters a person
    sees as separate: never between a letter and its accents, nor between the
    two halves of a flag. Cutting a text that was cut before counts what both
    cuts left out.
    """
    earlier = 0
    mark = _CUT_MARK.search(text)
    if mark is not None:
        earlier = int(mark.group(1).replace(",", ""))
        text = text[: mark.start()]
    if len(text) <= limit and not earlier:
        return text
    kept = text[: _cluster_start(text, limit)].rstrip() if len(text) > limit else text
    more = len(text) - len(kept) + earlier
    return f"{kept}… ({more:,} more character{'' if more == 1 else 's'})"


def _cluster_start(text: str, index: int) -> int:
    """Return where the visible character that ``text[index]`` belongs to starts."""
    start = index
    while (
        start > 0
        and index - start < _LONGEST_CLUSTER
        and unicodedata.category(text[start]).startswith("M")
    ):
        start -= 1
    if index - start >= _LONGEST_CLUSTER:
        return index  # a pile of marks with no end: cut through it
    if _is_regional_indicator(text[start]):
        # Flags are pairs of regional indicators: keep an even number.
        run = start
        while run > 0 and _is_regional_indicator(text[run - 1]):
            run -= 1
        if (start - run) % 2:
            start -= 1
    return start


def _is_regional_indicator(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def one_line(text: str, limit: int = QUOTE_CHARS) -> str:
    """Return a gateway's text as one short line to quote among other words.

    Control characters go (see :func:`shown_safely`), runs of white space
    become one space, and the text is cut to ``limit`` characters.
    """
    return cut(" ".join(shown_safely(text).split()), limit)


_AUTH_PARAM = re.compile(
    r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))'
)


def parse_www_authenticate(value: str) -> dict[str, str]:
    """Return the parameters of a ``WWW-Authenticate`` challenge (and its scheme)."""
    if not value.strip():
        return {}
    params: dict[str, str] = {}
    scheme = value.strip().split(None, 1)[0]
    if "=" not in scheme:
        params["scheme"] = scheme
    for match in _AUTH_PARAM.finditer(value):
        name = match.group(1).lower()
        raw = match.group(2) if match.group(2) is not None else match.group(3)
        params.setdefault(name, raw.replace('\\"', '"')[:EXCERPT_CHARS])
    return params


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Read ``Retry-After`` as seconds or as an HTTP date; None when unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # Past ten digits int() would only make a longer wait than the cap.
        seconds = int(value) if len(value) <= 10 else MAX_RETRY_AFTER
        return float(min(seconds, MAX_RETRY_AFTER))
    from email.utils import parsedate_to_datetime  # noqa: PLC0415 - rarely needed

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(MAX_RETRY_AFTER, max(0.0, (when - now).total_seconds()))


# Each of these is tried once per place, and none scans past the next "<" or to
# the end of the page again for every opening it meets: a gateway's page of
# "<<<<…" or "<script <script …" is read in one pass.
_BLOCK_OPEN = re.compile(r"(?i)<(script|style|head)\b")
_BLOCK_CLOSE = {
    name: re.compile(rf"(?i)</{name}\s*>") for name in ("script", "style", "head")
}
_TITLE_OPEN = re.compile(r"(?i)<title[^<>]*+>")
_TITLE_CLOSE = re.compile(r"(?i)</title\s*>")
_TAG = re.compile(r"<[^<>]*+>")


def _without_blocks(text: str) -> str:
    """Return ``text`` without its script, style and head blocks."""
    kept: list[str] = []
    done = 0
    unclosed: set[str] = set()
    for opening in _BLOCK_OPEN.finditer(text):
        name = opening.group(1).lower()
        if opening.start() < done or name in unclosed:
            continue
        closing = _BLOCK_CLOSE[name].search(text, opening.end())
        if closing is None:
            unclosed.add(name)  # none later either: keep its text, drop its tags
            continue
        kept.append(text[done : opening.start()])
        done = closing.end()
    kept.append(text[done:])
    return " ".join(kept)


def _title(text: str) -> str | None:
    opening = _TITLE_OPEN.search(text)
    if opening is None:
        return None
    closing = _TITLE_CLOSE.search(text, opening.end())
    return None if closing is None else text[opening.end() : closing.start()]


def text_excerpt(text: str, content_type: str = "", limit: int = EXCERPT_CHARS) -> str:
    """Return a short, tag-free excerpt of a body for people to read."""
    if not text.strip():
        return ""
    if "html" in content_type.lower() or "<html" in text[:2000].lower():
        import html  # noqa: PLC0415 - its entity table only for HTML answers

        title = _title(text[:20000])
        body = _TAG.sub(" ", _without_blocks(text[:50000]))
        text = html.unescape(body)
        if title:
            heading = " ".join(html.unescape(title).split())
            if heading and heading not in text[:200]:
                text = f"{heading}: {text}"
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    collapsed = " ".join(cleaned.split())
    return collapsed if len(collapsed) <= limit else collapsed[: limit - 1] + "…"
