"""Redaction: the one place that removes secrets from text before it is kept."""

from __future__ import annotations

import base64
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


class Redactor:
    """Removes known secrets and secret-shaped text from strings.

    The app registers every token it learns (``add``); redaction then removes the
    token itself, its base64 forms, and anything that looks like a bearer
    credential. Thread-safe: workers register tokens while the log writes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = []

    def add(self, secret: str | None) -> None:
        """Remember a secret so that it is removed from everything redacted later."""
        if not secret or len(secret) < 4:
            return
        forms = {
            secret,
            urllib.parse.quote(secret, safe=""),
            urllib.parse.quote_plus(secret),
        }
        raw = secret.encode()
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(raw).decode()
            forms.add(encoded)
            forms.add(encoded.rstrip("="))
        with self._lock:
            for form in forms:
                if form not in self._secrets:
                    self._secrets.append(form)
            self._secrets.sort(key=len, reverse=True)

    def redact(self, text: str) -> str:
        """Return ``text`` with every known and secret-shaped part replaced."""
        with self._lock:
            secrets = list(self._secrets)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
            if len(secret) >= 2 * _PIECE:
                text = _redact_pieces(text, secret)
        for pattern in _PATTERNS:
            text = pattern.sub(_keep_prefix, text)
        return text


_PIECE = 12
"""A run of this many characters of a known secret counts as the secret."""


def _redact_pieces(text: str, secret: str) -> str:
    # A secret cut short (an excerpt that ends mid-token, or starts mid-token) is
    # still recognised by its first or last characters.
    head, tail = secret[:_PIECE], secret[-_PIECE:]
    if head in text:
        text = re.sub(re.escape(head) + "[A-Za-z0-9._~+/=-]*", REDACTED, text)
    if tail in text:
        text = re.sub("[A-Za-z0-9._~+/=-]*" + re.escape(tail), REDACTED, text)
    return text


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
