"""The encoding of every signed or hashed object ("statement"), and its strict parser.

Wire format (SPEC-v2-crypto, docs/protocol.md §1)::

    field(b)  = u32be(len(b)) || b
    statement = field(tag) || field(f1) || field(f2) || ...

A statement type is described once, as a :class:`Schema` (its ASCII tag and
an ordered tuple of :class:`Field` s). :func:`encode` and :func:`parse` both
check every value against the same schema, so whatever :func:`encode` accepts
:func:`parse` gives back unchanged, and :func:`parse` accepts exactly the
bytes :func:`encode` can produce: a wrong tag, a wrong field count, a wrong
length for a fixed-size field, a field length running past the end, trailing
bytes, a non-ASCII string or a non-canonical age recipient are each a
:class:`StatementError`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import agecrypt

from .errors import StatementError, UsageError

__all__ = [
    "Field",
    "Kind",
    "Schema",
    "encode",
    "encode_body",
    "encode_fields",
    "field",
    "parse",
    "parse_body",
    "split_fields",
    "u64",
]

_U32_MAX = 2**32 - 1
_U64_MAX = 2**64 - 1


class Kind(enum.Enum):
    U64 = "u64"  # unsigned integer, 8 bytes big-endian
    BYTES = "bytes"  # raw bytes of a fixed size (ids 16, hashes 32, Ed25519 keys 32)
    ASCII = "ascii"  # printable ASCII without spaces (0x21-0x7e), non-empty
    RECIPIENT = "recipient"  # an age recipient string in its canonical form
    RAW = "raw"  # bytes of any length, empty allowed; the schema's user checks the content


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    size: int | None = None  # required for BYTES

    def __post_init__(self) -> None:
        if (self.kind is Kind.BYTES) != (self.size is not None):
            raise UsageError("a BYTES field needs a size; other kinds have none")


@dataclass(frozen=True)
class Schema:
    tag: str
    fields: tuple[Field, ...]


def u64(n: int) -> bytes:
    """``n`` as 8 bytes big-endian; :class:`UsageError` unless 0 <= n < 2^64 (bools refused)."""
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= _U64_MAX:
        raise UsageError("a u64 field takes an int in [0, 2^64)")
    return n.to_bytes(8, "big")


def field(b: bytes) -> bytes:
    """``u32be(len(b)) || b``."""
    if not isinstance(b, bytes | bytearray):
        raise UsageError("a field holds bytes")
    if len(b) > _U32_MAX:
        raise UsageError("a field is at most 2^32-1 bytes")
    return len(b).to_bytes(4, "big") + bytes(b)


def encode_fields(parts: Sequence[bytes]) -> bytes:
    """The concatenation of ``field(p)`` for each part (no tag; used for the box context)."""
    return b"".join(field(p) for p in parts)


def split_fields(data: bytes) -> list[bytes]:
    """Split a concatenation of fields; :class:`StatementError` on a truncated field."""
    if not isinstance(data, bytes | bytearray):
        raise StatementError("a statement is bytes")
    data = bytes(data)
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            raise StatementError("truncated field length")
        n = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
        if n > len(data) - pos:
            raise StatementError("field length runs past the end")
        out.append(data[pos : pos + n])
        pos += n
    return out


def _is_ascii_token(s: str) -> bool:
    return bool(s) and all(0x21 <= ord(c) <= 0x7E for c in s)


def _encode_value(f: Field, value: Any) -> bytes:
    """One value as its field payload, or :class:`UsageError` (the caller's mistake)."""
    if f.kind is Kind.U64:
        return u64(value)
    if f.kind is Kind.BYTES:
        if not isinstance(value, bytes | bytearray) or len(value) != f.size:
            raise UsageError(f"{f.name} must be exactly {f.size} bytes")
        return bytes(value)
    if f.kind is Kind.RAW:
        if not isinstance(value, bytes | bytearray):
            raise UsageError(f"{f.name} must be bytes")
        return bytes(value)
    if not isinstance(value, str) or not _is_ascii_token(value):
        raise UsageError(f"{f.name} must be non-empty printable ASCII without spaces")
    if f.kind is Kind.RECIPIENT and not _is_canonical_recipient(value):
        raise UsageError(f"{f.name} is not a canonical age recipient")
    return value.encode("ascii")


def _decode_value(f: Field, raw: bytes) -> Any:
    """One field payload as its value, or :class:`StatementError` (untrusted input)."""
    if f.kind is Kind.U64:
        if len(raw) != 8:
            raise StatementError(f"{f.name}: a u64 field is 8 bytes")
        return int.from_bytes(raw, "big")
    if f.kind is Kind.BYTES:
        if len(raw) != f.size:
            raise StatementError(f"{f.name}: expected {f.size} bytes")
        return raw
    if f.kind is Kind.RAW:
        return bytes(raw)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise StatementError(f"{f.name}: not ASCII") from None
    if not _is_ascii_token(text):
        raise StatementError(f"{f.name}: not printable ASCII")
    if f.kind is Kind.RECIPIENT and not _is_canonical_recipient(text):
        raise StatementError(f"{f.name}: not a canonical age recipient")
    return text


def _is_canonical_recipient(text: str) -> bool:
    # Parsing then printing must give the same string, so one key has one encoding.
    try:
        return str(agecrypt.parse_recipient(text)) == text
    except agecrypt.AgeError:
        return False


def encode_body(fields: Sequence[Field], values: Mapping[str, Any]) -> bytes:
    """The fields of ``values`` in ``fields`` order, without a tag (the message box context)."""
    if set(values) != {f.name for f in fields}:
        raise UsageError("values must name exactly the schema's fields")
    return encode_fields([_encode_value(f, values[f.name]) for f in fields])


def parse_body(fields: Sequence[Field], parts: Sequence[bytes]) -> dict[str, Any]:
    """Field payloads (already split) as values; :class:`StatementError` on a bad count or value."""
    if len(parts) != len(fields):
        raise StatementError("wrong number of fields")
    return {f.name: _decode_value(f, raw) for f, raw in zip(fields, parts, strict=True)}


def encode(schema: Schema, values: Mapping[str, Any]) -> bytes:
    """The statement for ``values`` (keyed by field name; exactly the schema's fields)."""
    return field(schema.tag.encode("ascii")) + encode_body(schema.fields, values)


def parse(schema: Schema, data: bytes) -> dict[str, Any]:
    """The field values of a statement of type ``schema``; :class:`StatementError` otherwise.

    Guarantees ``encode(schema, parse(schema, data)) == data``.
    """
    parts = split_fields(data)
    if not parts or parts[0] != schema.tag.encode("ascii"):
        raise StatementError(f"not a {schema.tag} statement")
    return parse_body(schema.fields, parts[1:])
