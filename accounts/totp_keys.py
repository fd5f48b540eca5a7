"""TOTP seeds at rest: sealed under ``SECURECHAT_TOTP_KEY``, never stored in the clear.

django-otp keeps a TOTP device's seed as hex in ``TOTPDevice.key`` (80
characters) and reads it only through ``bin_key``. SecureChat stores
``enc1$<key id>$<base64url(nonce ‖ ChaCha20-Poly1305 ciphertext)>`` there
instead (78 characters), with the user's id in the associated data, so a row
copied to another user does not open. ``accounts.models.ForgivingTOTPDevice``
(the device class every code path uses) opens it in ``bin_key``; django-otp's
plain ``TOTPDevice.bin_key`` fails on it (closed, not open).

Keys (32 random bytes, base64url) come from settings, never from the database:
``SECURECHAT_TOTP_KEY`` seals; ``SECURECHAT_TOTP_OLD_KEYS`` only open. The key
id (8 hex digits of a hash of the key) names which key sealed a row, so opening
costs one decryption. Rotation: put the old key in the old list, set a new one,
run ``manage.py reseal_totp_keys --yes``, then drop the old key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "enc1$"
AAD_TAG = b"securechat/v1/totp-seed"


class SealedKeyError(Exception):
    """A stored seed that no configured key opens (wrong key, edited row)."""


def decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ImproperlyConfigured("SECURECHAT_TOTP_KEY and SECURECHAT_TOTP_OLD_KEYS hold "
                                   "32 random bytes in base64url each.")
    return raw


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"securechat/v1/totp-key-id" + key).hexdigest()[:8]


def _keys() -> dict[str, bytes]:
    """Every configured key by id; the current one first."""
    found = {}
    for text in [settings.SECURECHAT_TOTP_KEY, *settings.SECURECHAT_TOTP_OLD_KEYS]:
        key = decode_key(text)
        found.setdefault(key_id(key), key)
    return found


def current_key_id() -> str:
    return key_id(decode_key(settings.SECURECHAT_TOTP_KEY))


def _aad(user_id) -> bytes:
    return AAD_TAG + b"\x00" + str(user_id).encode()


def seal(seed: bytes, user_id) -> str:
    """The stored form of ``seed`` for ``user_id``'s device, under the current key."""
    key = decode_key(settings.SECURECHAT_TOTP_KEY)
    nonce = secrets.token_bytes(12)
    box = ChaCha20Poly1305(key).encrypt(nonce, seed, _aad(user_id))
    return f"{PREFIX}{key_id(key)}${base64.urlsafe_b64encode(nonce + box).decode().rstrip('=')}"


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def sealed_key_id(stored: str) -> str | None:
    return stored[len(PREFIX):].split("$", 1)[0] if is_sealed(stored) else None


def open_seed(stored: str, user_id) -> bytes:
    """The seed; a row from before sealing (plain hex) is read as django-otp wrote it."""
    if not is_sealed(stored):
        try:
            return binascii.unhexlify(stored.encode())
        except (binascii.Error, ValueError):
            raise SealedKeyError("a TOTP seed is neither sealed nor hex") from None
    kid, _, body = stored[len(PREFIX):].partition("$")
    key = _keys().get(kid)
    if key is None:
        raise SealedKeyError(f"no configured TOTP key has id {kid}")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return ChaCha20Poly1305(key).decrypt(raw[:12], raw[12:], _aad(user_id))
    except (binascii.Error, ValueError, InvalidTag):
        raise SealedKeyError("a TOTP seed did not open (edited row or wrong key)") from None


def new_sealed_seed(user_id) -> str:
    """A fresh 20-byte seed (django-otp's default size), sealed."""
    return seal(secrets.token_bytes(20), user_id)
