"""tus ``Upload-Metadata`` and the encrypted metadata of an upload.

``Upload-Metadata`` is a comma-separated list of ``key base64(value)`` pairs
(tus 1.0.0, creation extension). SecureChat reads ``conversation``,
``filename`` and ``filetype`` (also accepting tus-js-client's ``name`` and
``type``). The raw header is kept, together with the name and type, inside an
age file encrypted to the uploader only, because HEAD must return it exactly
as sent; nothing of it is stored in the clear.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

import agecrypt

MAX_HEADER_LENGTH = 12 * 1024
MAX_NAME_BYTES = 8 * 1024
MAX_TYPE_LENGTH = 255
DEFAULT_TYPE = "application/octet-stream"
_KEY = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class MetadataError(ValueError):
    """Upload-Metadata is malformed or misses what SecureChat needs."""


def parse_upload_metadata(header: str) -> dict[str, bytes | None]:
    if len(header) > MAX_HEADER_LENGTH:
        raise MetadataError("Upload-Metadata is too long.")
    pairs: dict[str, bytes | None] = {}
    if not header.strip():
        return pairs
    for item in header.split(","):
        parts = item.strip().split(" ")
        if len(parts) not in (1, 2) or not _KEY.match(parts[0]):
            raise MetadataError("Upload-Metadata must be 'key base64value' pairs.")
        key = parts[0]
        if key in pairs:
            raise MetadataError(f"Upload-Metadata repeats the key {key!r}.")
        if len(parts) == 1:
            pairs[key] = None
            continue
        try:
            pairs[key] = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError):
            raise MetadataError(f"Upload-Metadata value of {key!r} is not base64.") from None
    return pairs


def _text(value: bytes | None, what: str) -> str:
    if value is None:
        return ""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError(f"The {what} is not UTF-8.") from None


def upload_fields(pairs: dict[str, bytes | None]) -> tuple[str, str, str]:
    """``(conversation id, file name, content type)`` from parsed metadata."""
    conversation = _text(pairs.get("conversation"), "conversation id").strip()
    if not conversation or len(conversation) > 64:
        raise MetadataError("Upload-Metadata needs 'conversation' (the conversation id).")
    raw_name = pairs.get("filename", pairs.get("name"))
    name = _text(raw_name, "file name")
    if not name:
        raise MetadataError("Upload-Metadata needs 'filename'.")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise MetadataError("The file name is too long.")
    filetype = _text(pairs.get("filetype", pairs.get("type")), "file type").strip()
    if len(filetype) > MAX_TYPE_LENGTH:
        raise MetadataError("The file type is too long.")
    return conversation, name, filetype or DEFAULT_TYPE


def seal_upload_metadata(raw_header: str, name: str, filetype: str, recipient) -> bytes:
    """The age file holding the raw header, name and type, for the uploader only."""
    doc = {"v": 1, "name": name, "type": filetype, "upload_metadata": raw_header}
    return agecrypt.encrypt(json.dumps(doc).encode(), [recipient])


def open_upload_metadata(blob: bytes, identities) -> dict:
    return json.loads(agecrypt.decrypt(bytes(blob), identities))
