"""The file message: a version 2 message of statement kind ``file`` whose box holds the
file document (docs/protocol.md §24, "File messages"), and the safe local name of a
file a stranger named.

    {"v": 2, "type": "file", "name": str, "mime": str, "size": int (plaintext bytes),
     "length": int (age file bytes), "upload_id": 32 hex, "identity": "AGE-SECRET-KEY-…",
     "file_hash": 64 hex, "thumbnail": base64 (optional)}

``thumbnail`` (optional) is a JPEG or WebP of at most :data:`THUMBNAIL_MAX` bytes that the
sender's browser made of an image, for the recipient to show at once. It is decoration,
not part of what the file hash proves: a missing or malformed one (not a string, not
base64, too large, not JPEG or WebP) is ignored (``None``), never an error, and the CLI
never writes it anywhere.

The identity is the file's one-time key: it travels only inside the box. The name and
type are the sender's word: a receiver saves under :func:`safe_name` and never trusts
the type for anything but a hint.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from dataclasses import dataclass

from .messagebox import BoxFormatError

FILE_KIND = "file"
MAX_NAME = 150  # characters (code points)
MAX_NAME_BYTES = 240  # a file system's limit is 255 bytes (UTF-8); room for a prefix
KEEP_EXTENSION = 16  # an extension of up to this many characters survives the cap
FALLBACK_NAME = "file"
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
THUMBNAIL_MAX = 8 * 1024  # bytes of a decoded thumbnail
# C0/C1 controls (NUL included), DEL and every bidi control (embeddings, overrides,
# isolates, the marks): a bidi override can hide a name's real extension.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_RESERVED = re.compile(r'[<>:"|?*]')  # refused by Windows file systems


@dataclass(frozen=True)
class FileDocument:
    name: str
    mime: str
    size: int
    length: int
    upload_id: str
    identity: str
    file_hash: bytes
    thumbnail: bytes | None = None  # JPEG or WebP bytes, checked by thumbnail_of()


def thumbnail_of(value) -> bytes | None:
    """The bytes of a document's ``thumbnail``, or None when it is absent or malformed."""
    if not isinstance(value, str) or len(value) > 4 * -(-THUMBNAIL_MAX // 3):
        return None
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    jpeg = data[:3] == b"\xff\xd8\xff"
    webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return data if 0 < len(data) <= THUMBNAIL_MAX and (jpeg or webp) else None


def encode(doc: FileDocument) -> bytes:
    """The box plaintext of a file message (compact UTF-8 JSON, as JSON.stringify gives)."""
    value = {"v": 2, "type": FILE_KIND, "name": doc.name, "mime": doc.mime, "size": doc.size,
             "length": doc.length, "upload_id": doc.upload_id, "identity": doc.identity,
             "file_hash": doc.file_hash.hex()}
    if doc.thumbnail is not None:
        value["thumbnail"] = base64.b64encode(doc.thumbnail).decode("ascii")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _count(value, what: str) -> int:
    if type(value) is not int or value < 0:
        raise BoxFormatError(f"a file message's {what} is not a byte count")
    return value


def parse(doc: dict) -> FileDocument:
    """The file document of an opened box (:class:`BoxFormatError` if malformed)."""
    name, mime, identity = doc.get("name"), doc.get("mime"), doc.get("identity")
    upload_id, file_hash = doc.get("upload_id"), doc.get("file_hash")
    if not all(isinstance(v, str) for v in (name, mime, identity, upload_id, file_hash)):
        raise BoxFormatError("a file message lacks its name, type, key, upload or hash")
    if not _HEX32.fullmatch(upload_id) or not _HEX64.fullmatch(file_hash):
        raise BoxFormatError("a file message names a malformed upload id or hash")
    if not identity.startswith("AGE-SECRET-KEY-"):
        raise BoxFormatError("a file message's key is not an age identity")
    return FileDocument(name, mime, _count(doc.get("size"), "size"),
                        _count(doc.get("length"), "length"), upload_id, identity,
                        bytes.fromhex(file_hash), thumbnail_of(doc.get("thumbnail")))


def safe_name(name, fallback: str = FALLBACK_NAME) -> str:
    """A local file name for a name a stranger chose, by the browser's rule
    (``static/js/v2/chat/filename.js``; protocol.md §24): bidi controls, C0/C1 controls
    and NUL removed, ``<>:"|?*`` as ``_``, only what follows the last ``/`` or ``\\``,
    leading dots and whitespace and trailing dots and whitespace dropped, at most 150
    characters keeping an extension of up to 16; ``fallback`` if nothing is left."""
    if not isinstance(name, str):
        return fallback
    cleaned = _RESERVED.sub("_", _UNSAFE.sub("", unicodedata.normalize("NFC", name)))
    base = re.split(r"[/\\]", cleaned)[-1]
    base = re.sub(r"^[\s.]+", "", base)
    base = re.sub(r"[\s.]+$", "", base)
    if not base:
        return fallback
    if len(base) <= MAX_NAME:
        return base
    dot = base.rfind(".")
    extension = base[dot:] if dot > 0 else ""
    if 1 < len(extension) <= KEEP_EXTENSION:
        return base[: MAX_NAME - len(extension)] + extension
    return base[:MAX_NAME]


def local_name(name, prefix: str = "") -> str:
    """``prefix`` + :func:`safe_name`, shortened (keeping the extension) to at most
    :data:`MAX_NAME_BYTES` bytes of UTF-8, so that even 150 four-byte characters fit a
    file system's name limit."""
    base = safe_name(name)
    dot = base.rfind(".")
    extension = base[dot:] if 0 < dot and len(base) - dot <= KEEP_EXTENSION else ""
    stem = base[:len(base) - len(extension)] if extension else base
    while stem and len((prefix + stem + extension).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return prefix + (stem + extension if stem else FALLBACK_NAME)
