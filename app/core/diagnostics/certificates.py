"""Certificates: what a server certificate says, read with the standard library."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime

from app.core.tokens import humanize_seconds

_NAME_ATTRIBUTES = {
    "2.5.4.3": "CN",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.5": "serialNumber",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
}
_SUBJECT_ALT_NAME = "2.5.29.17"


@dataclass(frozen=True)
class CertificateFacts:
    """What a server certificate says about itself.

    Attributes:
        subject, issuer: ``(attribute, value)`` pairs, e.g. ``("CN", "gw")``.
        not_before, not_after: The validity period (UTC).
        alt_names: Subject alternative names: ``DNS:name`` or ``IP:address``.
        sha256: The certificate's SHA-256 fingerprint.
    """

    subject: tuple[tuple[str, str], ...]
    issuer: tuple[tuple[str, str], ...]
    not_before: datetime | None
    not_after: datetime | None
    alt_names: tuple[str, ...]
    sha256: str

    @property
    def subject_name(self) -> str:
        """The subject's most telling name."""
        return _display_name(self.subject)

    @property
    def issuer_name(self) -> str:
        """The issuer's most telling name."""
        return _display_name(self.issuer)

    @property
    def self_signed(self) -> bool:
        """Whether the certificate names itself as its issuer."""
        return self.subject == self.issuer

    def as_dict(self, now: datetime) -> dict[str, object]:
        """Return the facts as plain data."""
        return {
            "subject": _distinguished_name(self.subject),
            "issuer": _distinguished_name(self.issuer),
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "validity": self.validity_words(now),
            "alt_names": list(self.alt_names),
            "self_signed": self.self_signed,
            "sha256": self.sha256,
        }

    def validity_words(self, now: datetime) -> str:
        """Say until when the certificate is valid, relative to ``now``."""
        if self.not_after is None:
            return "validity unknown"
        delta = (self.not_after - now).total_seconds()
        day = self.not_after.strftime("%Y-%m-%d")
        if delta <= 0:
            return f"expired on {day} ({humanize_seconds(delta)} ago)"
        if self.not_before is not None and self.not_before > now:
            return f"not valid before {self.not_before:%Y-%m-%d}"
        if delta > 90 * 24 * 3600:
            return f"valid until {day}"
        return f"valid until {day} ({humanize_seconds(delta)} from now)"


def _display_name(name: tuple[tuple[str, str], ...]) -> str:
    for wanted in ("CN", "O", "OU"):
        for key, value in name:
            if key == wanted:
                return value
    return _distinguished_name(name) or "(no name)"


def _distinguished_name(name: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{key}={value}" for key, value in name)


def parse_certificate(der: bytes) -> CertificateFacts:
    """Read the facts of a DER-encoded X.509 certificate.

    Raises:
        ValueError: The bytes are not a certificate this reader understands.
    """
    try:
        return _parse_certificate(der)
    except (IndexError, ValueError, UnicodeError) as error:
        raise ValueError(f"not a readable certificate ({error})") from None


def _parse_certificate(der: bytes) -> CertificateFacts:
    _, start, _ = _element(der, 0)
    tbs_tag, tbs_start, tbs_end = _element(der, start)
    if tbs_tag != 0x30:
        raise ValueError("no certificate body")
    fields = _children(der, tbs_start, tbs_end)
    if fields and fields[0][0] == 0xA0:  # the explicit version
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
    _, issuer, validity, subject = fields[0], fields[2], fields[3], fields[4]
    times = _children(der, validity[1], validity[2])
    alt_names: tuple[str, ...] = ()
    for tag, ext_start, ext_end in fields[6:]:
        if tag == 0xA3:
            alt_names = _alt_names(der, ext_start, ext_end)
    return CertificateFacts(
        subject=_name(der, subject),
        issuer=_name(der, issuer),
        not_before=_time(der, times[0]),
        not_after=_time(der, times[1]),
        alt_names=alt_names,
        sha256=hashlib.sha256(der).hexdigest(),
    )


def _element(data: bytes, pos: int) -> tuple[int, int, int]:
    """Return the tag, content start and content end of the element at ``pos``."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4:
            raise ValueError("unsupported length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise ValueError("truncated")
    return tag, pos, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items = []
    pos = start
    while pos < end:
        item = _element(data, pos)
        items.append(item)
        pos = item[2]
    return items


def _oid(raw: bytes) -> str:
    first = min(raw[0] // 40, 2)
    parts = [first, raw[0] - 40 * first]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(part) for part in parts)


_STRING_CODECS = {
    0x0C: "utf-8",
    0x12: "ascii",
    0x13: "ascii",
    0x14: "latin-1",
    0x16: "ascii",
    0x1A: "ascii",
    0x1C: "utf-32-be",
    0x1E: "utf-16-be",
}


def _string(tag: int, raw: bytes) -> str:
    return raw.decode(_STRING_CODECS.get(tag, "utf-8"), errors="replace")


def _name(data: bytes, element: tuple[int, int, int]) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for _, set_start, set_end in _children(data, element[1], element[2]):
        for _, pair_start, pair_end in _children(data, set_start, set_end):
            (_, oid_start, oid_end), (value_tag, value_start, value_end) = _children(
                data, pair_start, pair_end
            )[:2]
            oid = _oid(data[oid_start:oid_end])
            key = _NAME_ATTRIBUTES.get(oid, oid)
            pairs.append((key, _string(value_tag, data[value_start:value_end])))
    return tuple(pairs)


def _time(data: bytes, element: tuple[int, int, int]) -> datetime | None:
    tag, start, end = element
    text = data[start:end].decode("ascii")
    formats = {0x17: "%y%m%d%H%M%SZ", 0x18: "%Y%m%d%H%M%SZ"}
    if tag not in formats:
        return None
    try:
        return datetime.strptime(text, formats[tag]).replace(tzinfo=UTC)
    except ValueError:
        return None


def _alt_names(data: bytes, start: int, end: int) -> tuple[str, ...]:
    (_, seq_start, seq_end) = _element(data, start)
    for _, ext_start, ext_end in _children(data, seq_start, seq_end):
        parts = _children(data, ext_start, ext_end)
        if _oid(data[parts[0][1] : parts[0][2]]) != _SUBJECT_ALT_NAME:
            continue
        _, value_start, _ = parts[-1]
        _, names_start, names_end = _element(data, value_start)
        names: list[str] = []
        for tag, name_start, name_end in _children(data, names_start, names_end):
            raw = data[name_start:name_end]
            if tag == 0x82:
                names.append(f"DNS:{raw.decode('ascii', errors='replace')}")
            elif tag == 0x87 and len(raw) in (4, 16):
                names.append(f"IP:{ipaddress.ip_address(raw)}")
            elif tag == 0x86:
                names.append(f"URI:{raw.decode('ascii', errors='replace')}")
        return tuple(names)
    return ()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
