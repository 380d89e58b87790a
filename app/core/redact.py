"""Redaction: the one place that removes secrets from text before it is kept."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import urllib.parse

REDACTED = "[REDACTED]"

_PATTERNS = (
    # An Authorization header or a pasted bearer credential.
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    # Anything shaped like a JWT, wherever it appears.
    re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    # token=… in query strings or key=value logs.
    re.compile(r"(?i)((?:access_)?token[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;]{4,}"),
)

PIECE = 8
"""The length from which any run of a known secret's characters counts as the secret.

Eight base64 characters carry 48 bits: enough to confirm a guessed token, or to
be stitched together with other pieces, so no such run may survive anywhere in a
text. Shorter runs are removed only where they continue a longer piece across a
separator (the rest of a token echoed in two parts, or broken across lines).
Elsewhere they are left alone: a stray two- or five-letter run of a token is
bound to occur in ordinary words, and blanking those would make messages
unreadable while protecting nothing.
"""


class Redactor:
    """Removes known secrets and secret-shaped text from strings.

    The app registers every token it learns (``add``); redaction then removes the
    token itself, its encoded forms (base64, percent-encoded, JSON-escaped), every
    run of :data:`PIECE` or more of their characters, and anything that looks
    like a bearer credential. Thread-safe: workers register tokens while the log
    writes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = []
        self._grams: frozenset[str] = frozenset()

    def add(self, secret: str | None) -> None:
        """Remember a secret so that it is removed from everything redacted later."""
        if not secret or len(secret) < 4:
            return
        forms = _forms(secret)
        with self._lock:
            for form in forms:
                if form not in self._secrets:
                    self._secrets.append(form)
            self._secrets.sort(key=len, reverse=True)
            self._grams = frozenset(
                form[i : i + PIECE]
                for form in self._secrets
                for i in range(len(form) - PIECE + 1)
            )

    def redact(self, text: str) -> str:
        """Return ``text`` with every known and secret-shaped part replaced."""
        with self._lock:
            secrets, grams = list(self._secrets), self._grams
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if grams:
            text = _redact_pieces(text, grams, secrets)
        for pattern in _PATTERNS:
            text = pattern.sub(_keep_prefix, text)
        return text


def _forms(secret: str) -> set[str]:
    """Return the ways a gateway may echo ``secret``."""
    forms = {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        # JSON escapes: "/" as "\/" (some serialisers do), non-ASCII as \uXXXX.
        json.dumps(secret)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
    }
    forms |= {_lower_percent(form) for form in list(forms)}
    raw = secret.encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        forms.add(encoded)
        forms.add(encoded.rstrip("="))
        # Inside a longer base64 text (``user:token`` in a Basic header, say) the
        # secret starts one or two bytes into a 3-byte group and encodes to other
        # characters; keep the ones that depend on the secret's bytes alone.
        for offset, skip in ((1, 2), (2, 3)):
            shifted = encode(b"\0" * offset + raw).decode().rstrip("=")
            core = shifted[skip:-2]
            if len(core) >= PIECE:
                forms.add(core)
    return {form for form in forms if len(form) >= 4}


def _lower_percent(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda match: match.group(0).lower(), text)


def _redact_pieces(text: str, grams: frozenset[str], secrets: list[str]) -> str:
    # Mark every character inside a run of PIECE characters that also occurs in
    # a secret, then widen each marked span over short parts of the same secret
    # that continue it on the far side of a separator.
    covered = bytearray(len(text))
    for start in range(len(text) - PIECE + 1):
        if text[start : start + PIECE] in grams:
            covered[start : start + PIECE] = b"\1" * PIECE
    if not any(covered):
        return text
    spans: list[tuple[int, int]] = []
    for match in re.finditer(b"\1+", bytes(covered)):
        start, end = match.span()
        piece = text[start:end]
        secret = next((s for s in secrets if piece in s), None)
        if secret is not None:
            where = secret.index(piece)
            start = _widen_left(text, start, secret[:where])
            end = _widen_right(text, end, secret[where + len(piece) :])
        spans.append((start, end))
    parts: list[str] = []
    done = 0
    for start, end in _merged(spans):
        parts += [text[done:start], REDACTED]
        done = end
    parts.append(text[done:])
    return "".join(parts)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


_SEPARATOR = re.compile(r"(?:\\[nrt]|[^A-Za-z0-9\\]){1,4}")
"""What may sit between two parts of one echoed token: a space, a line break, a
JSON ``\\n`` or ``", "``, and the like."""


def _widen_right(text: str, end: int, rest: str) -> int:
    # ``rest`` is what the secret goes on with after text[:end].
    while rest:
        for start in range(end + 1, min(end + 9, len(text)) + 1):
            if not _SEPARATOR.fullmatch(text, end, start):
                continue
            size = _common_prefix(text[start : start + len(rest)], rest)
            if size and not _letter_at(text, start + size):
                end, rest = start + size, rest[size:]
                break
        else:
            return end
    return end


def _widen_left(text: str, start: int, before: str) -> int:
    # ``before`` is what the secret has in front of text[start:].
    while before:
        for end in range(start - 1, max(start - 9, 0) - 1, -1):
            if not _SEPARATOR.fullmatch(text, end, start):
                continue
            window = text[max(0, end - len(before)) : end]
            size = _common_prefix(window[::-1], before[::-1])
            if size and not _letter_at(text, end - size - 1):
                start, before = end - size, before[: len(before) - size]
                break
        else:
            return start
    return start


def _common_prefix(a: str, b: str) -> int:
    size = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        size += 1
    return size


def _letter_at(text: str, index: int) -> bool:
    return 0 <= index < len(text) and text[index].isalnum()


def _keep_prefix(match: re.Match[str]) -> str:
    prefix = match.group(1) if match.re.groups else ""
    return f"{prefix}{REDACTED}"


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's final message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the record's message once, redacted, and drop its arguments."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redactor.redact(record.exc_text)
        record.exc_info = None
        record.msg = self._redactor.redact(message)
        record.args = None
        return True
