"""What the server can check of a client-encrypted age file without any key.

The header must be exactly one recipient stanza of the deployment's key type
(``SECURECHAT_KEY_TYPE``: X25519 or mlkem768x25519) with the argument and
body sizes that type has, and at most ``MAX_HEADER_BYTES`` long; the whole
file must have a length an age file can have. None of this authenticates
anything (only the key holder can); it keeps the store to age files of the
one shape clients write, and refuses anything else before it is kept.
"""

from __future__ import annotations

import io

from django.conf import settings

from agecrypt import AgeError
from agecrypt._io import Source
from agecrypt.errors import HeaderError
from agecrypt.header import VERSION_LINE, parse_header
from agecrypt.primitives import b64decode
from agecrypt.stream import NONCE_SIZE, plaintext_size_of_payload

# A hybrid header is 1627 bytes, an X25519 one 168: 4 KiB is generous and still
# caps how much the server buffers before it knows what it is storing.
MAX_HEADER_BYTES = 4096
STANZA_TYPES = {"x25519": "X25519", "hybrid": "mlkem768x25519"}
ARG_BYTES = {"X25519": 32, "mlkem768x25519": 1088 + 32}
WRAPPED_KEY_BYTES = 32  # a 16-byte file key + 16-byte tag
SMALLEST_FILE = len(VERSION_LINE) + NONCE_SIZE + 16


class Refused(Exception):
    """The bytes are not an age file of this deployment's shape: ``status`` 415 or 400."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def expected_stanza_type() -> str:
    return STANZA_TYPES[settings.SECURECHAT_KEY_TYPE]


def check_header(prefix: bytes) -> int | None:
    """The header's length once ``prefix`` (the file's first bytes) holds all of it.

    None means "not yet": more bytes are needed. Raises ``Refused`` (415) when
    the bytes cannot start an age file, (400) for any other header.
    """
    start = prefix[:len(VERSION_LINE)]
    if not VERSION_LINE.startswith(start):
        raise Refused(415, "not_age", "The upload is not an age file (age-encryption.org/v1).")
    if len(prefix) < len(VERSION_LINE):
        return None  # a correct start of the version line: wait for the rest
    try:
        header = parse_header(Source(io.BytesIO(prefix)))
    except HeaderError as exc:
        if str(exc) == "unexpected end of header" and len(prefix) < MAX_HEADER_BYTES:
            return None
        raise Refused(400, "bad_header", f"The age header is refused: {exc}.") from None
    if len(header.raw) > MAX_HEADER_BYTES:
        raise Refused(400, "bad_header", "The age header is too large.")
    _check_stanzas(header.stanzas)
    return len(header.raw)


def _check_stanzas(stanzas) -> None:
    wanted = expected_stanza_type()
    if len(stanzas) != 1:
        raise Refused(400, "bad_header",
                      f"The age header must have exactly one recipient stanza, not {len(stanzas)}.")
    stanza = stanzas[0]
    if stanza.type != wanted:
        raise Refused(400, "wrong_key_type",
                      f"This server takes files for {wanted} recipients only.")
    try:
        arg_ok = len(stanza.args) == 1 and len(b64decode(stanza.args[0])) == ARG_BYTES[wanted]
    except ValueError:
        arg_ok = False
    if not arg_ok or len(stanza.body) != WRAPPED_KEY_BYTES:
        raise Refused(400, "bad_header", f"The {wanted} stanza has the wrong size.")


def check_length(header_len: int, length: int) -> None:
    """Refuse (400) a complete file whose length no age file of this header can have."""
    payload = length - header_len - NONCE_SIZE
    try:
        if payload < 0:
            raise HeaderError("file ends before the payload nonce")
        plaintext_size_of_payload(payload)
    except AgeError as exc:
        raise Refused(400, "bad_length", f"No age file has this length: {exc}.") from None
