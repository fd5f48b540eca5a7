"""Version 2 account values: salts, auth-key hashes, device keys, and the checks of what
clients upload (DESIGN.md §3, docs/protocol.md).

The server never receives a password, ``master``, ``wrap_key`` or an unwrapped
key. What it receives is checked here for shape only: an auth key is 32 bytes;
a wrapped identity is an age file with exactly one scrypt stanza of work factor
10 (header only: nothing here can open it); a recovery copy is an age file with
one stanza of the deployment's key type; public keys parse. Every refusal is an
``ApiError`` naming the field, raised before anything is stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import re

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

from accounts.errors import ApiError
from agecrypt import AgeError, HybridRecipient, X25519Recipient
from agecrypt.header import parse_header

ACCOUNT_SALT_BYTES = 16
AUTH_KEY_BYTES = 32
WRAP_WORK_FACTOR = 10  # the scrypt stanza over the (already high-entropy) wrap key
MAX_WRAPPED_BYTES = 32 * 1024  # an identity file of a few hybrid generations fits easily
STANZA_OF_KEY_TYPE = {"hybrid": "mlkem768x25519", "x25519": "X25519"}
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_DECIMAL = re.compile(r"^[1-9][0-9]{0,2}$")


def _key(setting: str) -> bytes:
    return getattr(settings, setting).encode()


def prelogin_salt(address: str) -> bytes:
    """``HMAC-SHA256(PRELOGIN_KEY, normalised address)[:16]``: the account salt of an address."""
    return hmac.new(_key("PRELOGIN_KEY"), address.encode(), hashlib.sha256).digest()[
        :ACCOUNT_SALT_BYTES]


def auth_hash(auth_key: bytes) -> bytes:
    """What is stored for an auth key: ``HMAC-SHA256(AUTH_PEPPER, auth_key)``."""
    return hmac.new(_key("AUTH_PEPPER"), auth_key, hashlib.sha256).digest()


def device_key(session_key: str) -> bytes:
    """The device key of a login session: ``HMAC-SHA256(DEVICE_KEY_SECRET, session key)``."""
    return hmac.new(_key("DEVICE_KEY_SECRET"), session_key.encode(), hashlib.sha256).digest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_field(value, field: str, length: int) -> bytes:
    """Exactly ``length`` bytes from unpadded base64url, or 400 naming ``field``."""
    wanted = (length * 8 + 5) // 6
    if not isinstance(value, str) or len(value) != wanted or not _B64URL.match(value):
        raise ApiError(f"{field} must be {length} bytes in unpadded base64url "
                       f"({wanted} characters).", field=field)
    data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if b64url(data) != value:  # non-canonical trailing bits
        raise ApiError(f"{field} is not canonical base64url.", field=field)
    return data


def b64_field(value, field: str, max_bytes: int = MAX_WRAPPED_BYTES) -> bytes:
    """Bytes from standard base64 (at most ``max_bytes``), or 400 naming ``field``."""
    if not isinstance(value, str) or not value or len(value) > (max_bytes + 2) // 3 * 4:
        raise ApiError(f"{field} must be base64 of at most {max_bytes} bytes.", field=field)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(f"{field} is not valid base64.", field=field) from None


def _stanzas(blob: bytes, field: str):
    try:
        return parse_header(io.BytesIO(blob)).stanzas
    except AgeError:
        raise ApiError(f"{field} is not an age file.", field=field) from None


def check_wrapped_identity(blob: bytes, field: str = "wrapped_identity") -> None:
    """An age file with exactly one scrypt stanza of work factor exactly 10, or 400."""
    stanzas = _stanzas(blob, field)
    if (len(stanzas) != 1 or stanzas[0].type != "scrypt" or len(stanzas[0].args) != 2
            or not _DECIMAL.match(stanzas[0].args[1])
            or int(stanzas[0].args[1]) != WRAP_WORK_FACTOR):
        raise ApiError(f"{field} must be an age file with one scrypt stanza of work factor "
                       f"{WRAP_WORK_FACTOR}.", field=field)


def check_recovery_wrapped(blob: bytes, key_type: str, field: str = "recovery_wrapped") -> None:
    """An age file with exactly one stanza of the deployment's key type, or 400."""
    stanzas = _stanzas(blob, field)
    if len(stanzas) != 1 or stanzas[0].type != STANZA_OF_KEY_TYPE[key_type]:
        raise ApiError(f"{field} must be an age file with one {STANZA_OF_KEY_TYPE[key_type]} "
                       "stanza (to your recovery key).", field=field)


def check_recipient(text, key_type: str, field: str = "recipient") -> str:
    """The age recipient string of the deployment's key type, or 400."""
    parse = HybridRecipient.from_string if key_type == "hybrid" else X25519Recipient.from_string
    if not isinstance(text, str) or len(text) > 4000:
        raise ApiError(f"{field} must be an age recipient.", field=field)
    try:
        return str(parse(text))
    except AgeError:
        raise ApiError(f"{field} must be an age recipient of this server's key type "
                       f"({key_type}).", field=field) from None


def check_signing_key(value, field: str = "signing_key") -> bytes:
    """32 bytes of an Ed25519 public key (unpadded base64url) that parses, or 400."""
    raw = b64url_field(value, field, 32)
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise ApiError(f"{field} is not an Ed25519 public key.", field=field) from None
    return raw
