"""Redaction: the one place that removes secrets from text before it is kept."""

from __future__ import annotations

import base64
import bisect
import functools
import json
import logging
import re
import threading
import unicodedata
import urllib.parse
from collections.abc import Mapping

REDACTED = "[REDACTED]"

_PATTERNS = (
    # An Authorization header or a pasted bearer credential.
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    # Anything shaped like a JWT, wherever it appears. Tried from the start of a
    # run only, and without going back: "eyJeyJeyJ…" is scanned once.
    re.compile(
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]*+"
    ),
    # token=… in query strings or key=value logs.
    re.compile(r"(?i)((?:access_)?token[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;]{4,}"),
)

PIECE = 8
"""The length from which any run of a known secret's characters counts as the secret.

Eight base64 characters carry 48 bits: enough to confirm a guessed token, or to
be stitched together with other pieces, so no such run may survive anywhere in a
text, however it is cut up, dressed or spelt. Runs are compared on the text's
*skeleton* (see :func:`skeleton`): its letters and digits only, in lower case,
with markup, escapes and invisible characters taken out. A shorter run is
removed only where it continues a longer one in the skeleton (the rest of a
token broken across lines, tags or colour codes). Elsewhere it is left alone: a
stray two- or five-letter run of a token is bound to occur in ordinary words,
and blanking those would make messages unreadable while protecting nothing.
"""

_PROBE = 5
"""The length of the pieces looked up first, at every ``PIECE - _PROBE + 1``-th
place of a skeleton only: every run of ``PIECE`` characters holds one of them
whole, so a text none of them is found in is let through after a quarter of the
look-ups."""
_STEP = PIECE - _PROBE + 1


class Redactor:
    """Removes known secrets and secret-shaped text from strings.

    The app registers every token it learns (``add``); redaction then removes the
    token itself, its encoded forms (base64, base32, hex, percent-encoded,
    JSON-escaped, and what debug output makes of it: UTF-16, lists of its
    bytes, encoded twice, backwards), every run of :data:`PIECE` or more of
    their characters in any letter case, even when broken up by separators,
    markup, escapes (HTML, JSON, C, Python, percent; escaped again) or invisible
    characters, or spelt in fullwidth or other compatibility letters, and
    anything that looks like a bearer credential. Thread-safe: workers register
    tokens while the log writes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = []
        self._grams: frozenset[str] = frozenset()
        self._probes: frozenset[str] = frozenset()

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
            skeletons = {
                bones
                for form in self._secrets
                for bones in (skeleton(form), skeleton(form, decode=False))
            }
            self._grams = frozenset(
                bones[i : i + PIECE]
                for bones in skeletons
                for i in range(len(bones) - PIECE + 1)
            )
            self._probes = frozenset(
                gram[i : i + _PROBE]
                for gram in self._grams
                for i in range(PIECE - _PROBE + 1)
            )

    def redact(self, text: str) -> str:
        """Return ``text`` with every known and secret-shaped part replaced."""
        with self._lock:
            secrets, grams, probes = list(self._secrets), self._grams, self._probes
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if grams:
            text = _redact_pieces(text, grams, probes)
        for pattern in _PATTERNS:
            text = pattern.sub(_keep_prefix, text)
        return text

    def redact_all(self, value: object) -> object:
        """Return ``value`` with every string in it, keys too, redacted.

        Mappings become dicts and sequences lists, as for JSON; other values are
        returned as they are.
        """
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {
                self.redact_all(key): self.redact_all(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.redact_all(item) for item in value]
        return value


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
    # Plain transformations of the bytes. Every byte percent-encoded (%41%62…)
    # needs no form of its own: its skeleton decodes to the secret's.
    forms.add(raw.hex())
    # What debug output makes of a string: its bytes as numbers ("[90, 113, …]",
    # "0x5a, 0x71, …"; their skeletons are these), its UTF-16 code units in hex,
    # and the secret backwards.
    forms.add("".join(str(byte) for byte in raw))
    forms.add("".join(f"0x{byte:02x}" for byte in raw))
    for utf16 in ("utf-16-be", "utf-16-le"):
        forms.add(secret.encode(utf16, "surrogatepass").hex())
    forms.add(secret[::-1])
    # Inside a longer base64 or base32 text (``user:token`` in a Basic header,
    # say) the secret starts one or more bytes into a group and encodes to other
    # characters; keep the ones that depend on the secret's bytes alone.
    for encode, group, bits in (
        (base64.b64encode, 3, 6),
        (base64.urlsafe_b64encode, 3, 6),
        (base64.b32encode, 5, 5),
    ):
        encoded = encode(raw).decode()
        forms.add(encoded)
        forms.add(encoded.rstrip("="))
        # Encoded twice, and the UTF-16 of it encoded (a .NET or Windows habit).
        forms.add(encode(encoded.encode()).decode().rstrip("="))
        forms.add(encode(secret.encode("utf-16-le", "surrogatepass")).decode())
        for offset in range(1, group):
            shifted = encode(b"\0" * offset + raw).decode().rstrip("=")
            core = shifted[-(-offset * 8 // bits) : -2]
            if len(core) >= PIECE:
                forms.add(core)
    return {form for form in forms if len(form) >= 4}


def _lower_percent(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda match: match.group(0).lower(), text)


_UNIT = re.compile(
    # Each kind starts with one of these characters; looking ahead for them
    # first lets the scan skip the rest of a text quickly.
    r"(?=[\x1b\\%&<\[])(?:"
    # A terminal control sequence (colour, cursor), raw or written out as an
    # escape in JSON, a log or a shell script.
    r"(?:\x1b|\\u001[bB]|\\x1[bB]|\\033|\\e)"
    r"(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]{0,256}(?:\x07|\x1b\\)|(?P<fe>[@-Z\\-_]))"
    # Escapes that spell one character: JSON's \u0041, Python's \U00000041,
    # C's \x41 and \101, %41, &#65; (browsers take it without the semicolon,
    # and with any number of leading zeros).
    r"|\\u(?P<u>[0-9A-Fa-f]{4})"
    r"|\\U(?P<U>[0-9A-Fa-f]{8})"
    r"|(?:\\x|%)(?P<x>[0-9A-Fa-f]{2})"
    r"|\\(?P<o>[0-3][0-7]{2})"
    r"|&#0*(?P<dec>[0-9]{1,7});?"
    r"|&#[xX]0*(?P<hex>[0-9A-Fa-f]{1,6});?"
    # Entities of spaces, invisible and markup characters.
    r"|&(?P<name>nbsp|shy|zwnj|zwj|lrm|rlm|ensp|emsp|thinsp|ZeroWidthSpace"
    r"|NoBreak|amp|lt|gt|quot|apos);?"
    # Markup: <wbr>, <span class="x">, </b>, <!-- -->.
    r"|<[^<>]{0,256}>"
    # Escapes of line breaks, tabs and quotes.
    r"|\\(?P<c>[nrtbfv0/\\\"'])"
    # What an earlier pass put in.
    r"|\[REDACTED\])"
)
"""What in a text stands for one character or none: escapes, entities, markup."""

_UNIT_OR_RUN = re.compile(f"{_UNIT.pattern}|(?P<run>[A-Za-z0-9]+)")
_ESCAPE = re.compile(
    r"\\[uU][0-9A-Fa-f]{4}|(?:\\x|%)[0-9A-Fa-f]{2}|\\[0-3][0-7]{2}|&#|\x1b|\\e"
)
"""The start of an escape that spells a character, or of a control sequence."""
_RUN = re.compile(r"[A-Za-z0-9]+")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def skeleton(text: str, *, decode: bool = True) -> str:
    r"""Return the letters and digits of ``text`` in lower case, the rest left out.

    A token keeps its identity in its skeleton however a gateway breaks it up:
    spaces, line breaks, punctuation, invisible characters, tags, entities and
    colour codes between its characters all go. With ``decode`` (the default),
    escapes that spell one character (``%41``, ``\u0041``, ``&#65;``) count as
    that character; without it, as the letters and digits they are written with.
    """
    return _NOT_ALNUM.sub(
        "", _UNIT.sub(_decoded if decode else _stripped, text)
    ).lower()


_ESCAPE_GROUPS = (("u", 16), ("U", 16), ("x", 16), ("o", 8), ("dec", 10), ("hex", 16))


def _code(match: re.Match[str]) -> int | None:
    """Return the code point an escape spells, or None for other units."""
    for group, base in _ESCAPE_GROUPS:
        digits = match.group(group)
        if digits is not None:
            return int(digits, base)
    return None


def _decoded(match: re.Match[str]) -> str:
    code = _code(match)
    if code is None or code >= 0x110000:
        return ""
    char = _fold_table().get(code, chr(code))
    return char if char.isascii() and char.isalnum() else ""


def _stripped(match: re.Match[str]) -> str:
    # Escapes as they are written, and the letters that name a character ("\n",
    # "&amp;", ESC A): they may as well be text, and are to a reader. Markup,
    # colour codes and the like as spaces, so that every character keeps its
    # place.
    if _code(match) is not None:
        return match.group()
    for group in ("c", "name", "fe"):
        if match.group(group) is not None:
            start, end = match.span(group)
            return (
                " " * (start - match.start())
                + match.group(group)
                + " " * (match.end() - end)
            )
    return " " * (match.end() - match.start())


def _redact_pieces(text: str, grams: frozenset[str], probes: frozenset[str]) -> str:
    # Find the secret's runs in the skeleton of the text and replace the whole
    # stretch of text each one came from, separators, markup and escapes inside
    # it included.
    original = text
    if not text.isascii():
        # Fullwidth, circled, mathematical letters and digits read as plain ones.
        text = text.translate(_fold_table())
    spans = _found(text, grams, probes)
    removed = _removable(text)
    if removed:
        # Read the text once more with what hides an escape taken out: a
        # zero-width space or a tag inside one ("%3&#8203;0") keeps it from being
        # read as one, though a reader sees it whole; and an escape escaped again
        # ("&amp;#65;", "%2541") is an escape once unwrapped.
        spans += _removed_origins(
            removed, _found(_without(text, removed), grams, probes)
        )
    if not spans:
        return original
    text = original
    parts: list[str] = []
    done = 0
    for start, end in _merged(spans):
        if end <= done:
            continue  # the padding after the span before reached over this one
        padding = _PADDING.match(text, end)
        parts += [text[done : max(start, done)], REDACTED]
        done = padding.end() if padding else end
    parts.append(text[done:])
    return "".join(parts)


def _found(
    text: str, grams: frozenset[str], probes: frozenset[str]
) -> list[tuple[int, int]]:
    r"""Return the spans of ``text`` whose skeleton holds runs of the secret.

    The skeleton is read three ways, as each can hide what the others show: with
    escapes decoded (%41%62 is "Ab"), with them as written (hex digits cut up by
    tags, and escapes cut in two), and as it is (a token between "<" and ">" is
    markup to the other two, and "\x1b[31m" takes a token's "31m").
    """
    spans = _decoded_spans(text, grams, probes)
    if "<" in text and _ESCAPE.search(text):
        # Escapes inside markup (<input value="&#65;…">) are read too.
        spans += _decoded_spans(text.translate(_NO_BRACKETS), grams, probes)
    readings = [text]
    if _ESCAPE.search(text):
        readings.append(_UNIT.sub(_stripped, text))
    for reading in readings:
        stretches = _stretches(_NOT_ALNUM.sub("", reading).lower(), grams, probes)
        if stretches:
            spans += _plain_origins(reading, stretches)
    return spans


def _decoded_spans(
    text: str, grams: frozenset[str], probes: frozenset[str]
) -> list[tuple[int, int]]:
    decoded = _UNIT.sub(_decoded, text)
    stretches = _stretches(_NOT_ALNUM.sub("", decoded).lower(), grams, probes)
    return _decoded_origins(text, stretches) if stretches else []


_NO_BRACKETS = str.maketrans("<>", "  ")

_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff]+"
)
"""Characters that take no room on the screen: zero-width spaces, joiners,
direction marks, the soft hyphen, the byte order mark."""


def _hidden(text: str) -> list[tuple[int, int]]:
    """Return the spans of ``text`` that show nothing and may cut an escape in two.

    Those are markup, colour codes, invisible characters, and escapes or entities
    of them, with the start of an escape among the few characters before them.
    """
    spans = [match.span() for match in _UNIT.finditer(text) if _shows_nothing(match)]
    spans += [match.span() for match in _INVISIBLE.finditer(text)]
    cutting: list[tuple[int, int]] = []
    before = ""  # what shows before the span, as long as the longest escape
    done = 0
    for start, end in _merged(spans):
        before = (before + text[max(done, start - _LONGEST) : start])[-_LONGEST:]
        if _MAY_ESCAPE.search(before):
            cutting.append((start, end))
            done = end
        else:
            done = start
    return cutting


_LONGEST = len("&#1114111;") - 1
"""How far before a cut the start of an escape can be."""
_MAY_ESCAPE = re.compile(r"[%\\&]")
"""What an escape starts with."""
_MAY_BE_CUT = re.compile(
    rf"[%\\&].{{0,{_LONGEST - 1}}}?(?:[<\x1b\\&]|{_INVISIBLE.pattern})", re.DOTALL
)
"""The start of an escape, and soon after it what may be hiding nothing."""


_SHOWS_NOTHING = re.compile(
    r"<.*|(?:\x1b|\\u001[bB]|\\x1[bB]|\\033|\\e).*"
    r"|&(?:shy|zwnj|zwj|lrm|rlm|ZeroWidthSpace|NoBreak);?",
    re.DOTALL,
)
"""Units that show nothing themselves: markup, colour codes, invisible entities."""


def _shows_nothing(match: re.Match[str]) -> bool:
    code = _code(match)
    if code is not None:
        return code < 0x110000 and bool(_INVISIBLE.fullmatch(chr(code)))
    return bool(_SHOWS_NOTHING.fullmatch(match.group()))


def _removable(text: str) -> list[tuple[int, int]]:
    """Return what hides an escape in ``text``: see :func:`_hidden`, :data:`_WRAP`."""
    spans = _hidden(text) if _MAY_BE_CUT.search(text) else []
    spans += [match.span(match.lastindex or 0) for match in _WRAP.finditer(text)]
    return _merged(spans)


_WRAP = re.compile(
    # Possessive, and each from the start of its run only: a long run that
    # turns out not to end in an escape is scanned once, not once a character.
    r"(?<!&amp;)&((?:amp;)++)(?=#)|(?<!%25)%((?:25)++)(?=[0-9A-Fa-f]{2})"
    r"|(?<!\\)\\(\\++)(?=[uUx][0-9A-Fa-f]{2})"
)
"""What escapes an escape once more: the "amp;" of "&amp;#65;", the "25" of
"%2541", a backslash doubled; each group is what unwraps the escape."""


def _without(text: str, hidden: list[tuple[int, int]]) -> str:
    kept = [0, *(edge for span in hidden for edge in span), len(text)]
    return "".join(text[a:b] for a, b in zip(kept[::2], kept[1::2], strict=True))


def _removed_origins(
    hidden: list[tuple[int, int]], spans: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Return the spans of the text that ``spans`` of it without ``hidden`` are."""
    # Each kept stretch starts where the removed one before it ended.
    starts = [0]
    origins = [0]
    for start, end in hidden:
        starts.append(starts[-1] + start - origins[-1])
        origins.append(end)

    def origin(index: int) -> int:
        which = bisect.bisect_right(starts, index) - 1
        return origins[which] + index - starts[which]

    return [(origin(start), origin(end - 1) + 1) for start, end in spans]


_PADDING = re.compile(r"={1,3}(?![A-Za-z0-9])")
"""The padding at the end of a token or of its base64 or base32 form."""


def _stretches(
    bones: str, grams: frozenset[str], probes: frozenset[str]
) -> list[tuple[int, int]]:
    """Return the stretches of ``bones`` made of runs of PIECE found in ``grams``."""
    # Every run of PIECE holds a probe that starts at a multiple of _STEP; only
    # around those that are found are the runs themselves looked up.
    found = [
        at
        for at in range(0, len(bones) - _PROBE + 1, _STEP)
        if bones[at : at + _PROBE] in probes
    ]
    starts = sorted(
        {
            start
            for at in found
            for start in range(max(0, at - _STEP + 1), at + 1)
            if bones[start : start + PIECE] in grams
        }
    )
    return _merged([(start, start + PIECE) for start in starts])


def _plain_origins(
    reading: str, stretches: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Return the spans of ``reading`` that its skeleton's ``stretches`` came from.

    ``reading`` has its characters where the text has them.
    """
    offsets: list[int] = []
    starts: list[int] = []
    size = 0
    for match in _RUN.finditer(reading):
        offsets.append(size)
        starts.append(match.start())
        size += match.end() - match.start()

    def origin(index: int) -> int:
        which = bisect.bisect_right(offsets, index) - 1
        return starts[which] + index - offsets[which]

    return [(origin(start), origin(end - 1) + 1) for start, end in stretches]


def _decoded_origins(
    text: str, stretches: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Return the spans of ``text`` that the decoded skeleton's ``stretches`` are."""
    # Each piece of the skeleton is a run of letters and digits, or the one
    # character an escape spells; note where each starts in both.
    offsets: list[int] = []
    pieces: list[tuple[int, int, bool]] = []
    size = 0
    for match in _UNIT_OR_RUN.finditer(text):
        run = match.lastgroup == "run"
        if not run and not _decoded(match):
            continue
        offsets.append(size)
        pieces.append((match.start(), match.end(), run))
        size += match.end() - match.start() if run else 1

    def origin(index: int) -> tuple[int, int]:
        which = bisect.bisect_right(offsets, index) - 1
        start, end, run = pieces[which]
        if run:
            start += index - offsets[which]
            end = start + 1
        return start, end

    return [(origin(start)[0], origin(end - 1)[1]) for start, end in stretches]


_FOLDED_BLOCKS = (
    (0xA0, 0x200),
    (0x2B0, 0x2E4),
    (0x1D2C, 0x1DBC),
    (0x2070, 0x2190),
    (0x2460, 0x24EB),
    (0x2C7C, 0x2C7E),
    (0xA7F2, 0xA7F5),
    (0xFF10, 0xFF5B),
    (0x107A5, 0x107A6),
    (0x1D400, 0x1D800),
    (0x1F12B, 0x1F14A),
    (0x1FBF0, 0x1FBFA),
)
"""Where Unicode keeps the characters that are compatibility forms of one ASCII
letter or digit (found by a scan of every code point Python's Unicode database
knows)."""


@functools.cache
def _fold_table() -> dict[int, str]:
    """Map each character that NFKC makes one ASCII letter or digit to it.

    Fullwidth, circled, mathematical, superscript letters and digits are plain
    ones to a reader. Built on first use (~2 ms).
    """
    table: dict[int, str] = {}
    for start, end in _FOLDED_BLOCKS:
        for code in range(start, end):
            plain = unicodedata.normalize("NFKC", chr(code))
            if len(plain) == 1 and plain.isascii() and plain.isalnum():
                table[code] = plain
    return table


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _keep_prefix(match: re.Match[str]) -> str:
    prefix = match.group(1) if match.re.groups else ""
    if prefix and not _looks_secret(match.group()[len(prefix) :]):
        return match.group()
    return f"{prefix}{REDACTED}"


def _looks_secret(value: str) -> bool:
    """Whether what follows "Bearer" or "token=" looks like a credential.

    Credentials are long and random: digits, or both cases, or many letters.
    What the patterns also meet is words: "Bearer error=…" in a challenge,
    "bearer token" in prose, "token: expired", ``"has_token": true``.
    """
    bare = value.rstrip("=")
    return len(bare) >= _SECRET_SHAPE and (
        any(char.isdigit() for char in bare)
        or (bare.lower() != bare and bare.upper() != bare)
        or len(bare) >= 3 * _SECRET_SHAPE
    )


_SECRET_SHAPE = 8


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
