"""age identity files and recipient strings.

An identity file holds one secret key per line; blank lines and lines whose
first non-blank character is ``#`` are ignored (this project keeps the
Ed25519 signing key in such a comment line). LF and CRLF are accepted.
"""

from __future__ import annotations

from .errors import KeyFormatError
from .header import Identity, Recipient
from .hybrid import HybridIdentity, HybridRecipient
from .x25519 import X25519Identity, X25519Recipient

__all__ = ["parse_identities", "parse_identity", "parse_recipient"]


def parse_identity(s: str) -> Identity:
    """Parse one ``AGE-SECRET-KEY-PQ-1…`` or ``AGE-SECRET-KEY-1…`` string."""
    if not isinstance(s, str):
        raise KeyFormatError("identity must be a str")
    if s.startswith("AGE-SECRET-KEY-PQ-1"):
        return HybridIdentity.from_string(s)
    if s.startswith("AGE-SECRET-KEY-1"):
        return X25519Identity.from_string(s)
    raise KeyFormatError("unknown identity type")


def parse_recipient(s: str) -> Recipient:
    """Parse one ``age1pq1…`` or ``age1…`` recipient string."""
    if not isinstance(s, str):
        raise KeyFormatError("recipient must be a str")
    if s.startswith("age1pq1"):
        return HybridRecipient.from_string(s)
    if s.startswith("age1"):
        return X25519Recipient.from_string(s)
    raise KeyFormatError("unknown recipient type")


def parse_identities(text: str | bytes) -> list[Identity]:
    """Parse an age identity file: one key per line, ``#`` comments and blank lines ignored.

    Raises :class:`KeyFormatError` naming the line number (never its content)
    if a line is not a valid key, or if the file holds no key at all.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise KeyFormatError("identity file is not UTF-8") from None
    if not isinstance(text, str):
        raise KeyFormatError("identity file must be str or bytes")
    identities: list[Identity] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r").strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(parse_identity(line))
        except KeyFormatError:
            raise KeyFormatError(f"invalid identity on line {lineno}") from None
    if not identities:
        raise KeyFormatError("no identities in identity file")
    return identities
