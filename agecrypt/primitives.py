"""Low-level helpers: strict Bech32, strict base64, HKDF/HMAC, file-key wrapping.

Everything here is strict in the way the age spec requires: Bech32 strings
must not mix case and must carry a valid checksum; base64 is the canonical
unpadded standard alphabet (no ``=``, no stray bits, no whitespace).
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import constant_time, hashes
from cryptography.hazmat.primitives import hmac as _hmac
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import KeyFormatError

__all__ = [
    "FILE_KEY_SIZE",
    "aead_unwrap",
    "aead_wrap",
    "b64decode",
    "b64encode",
    "bytes_equal",
    "bech32_decode",
    "bech32_encode",
    "hkdf_sha256",
    "hmac_sha256",
    "shake256",
]

FILE_KEY_SIZE = 16
_ZERO_NONCE = bytes(12)

# --- Bech32 (BIP 173 checksum, without the 90-character limit, as age uses it) ---

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_REV = {c: i for i, c in enumerate(_CHARSET)}
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        raise KeyFormatError("invalid Bech32 padding")
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Encode ``data`` under ``hrp`` as lowercase Bech32 (callers upper-case secret keys)."""
    hrp = hrp.lower()
    values = _convert_bits(data, 8, 5, True)
    polymod = _polymod(_hrp_expand(hrp) + values + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in values + checksum)


def bech32_decode(s: str) -> tuple[str, bytes]:
    """Decode a Bech32 string; return ``(hrp, data)`` with the HRP in its original case.

    Raises :class:`KeyFormatError` for mixed case, characters outside the
    alphabet, a bad checksum or bad padding. The HRP is returned as written,
    so callers compare it case-sensitively (recipients are lowercase,
    identities uppercase, as age does).
    """
    if not isinstance(s, str):
        raise KeyFormatError("key must be a str")
    if not s.isascii():
        raise KeyFormatError("non-ASCII character in Bech32 string")
    if s.lower() != s and s.upper() != s:
        raise KeyFormatError("mixed case in Bech32 string")
    pos = s.rfind("1")
    if pos < 1 or pos + 7 > len(s):
        raise KeyFormatError("separator '1' at invalid position")
    hrp = s[:pos]
    if any(not 33 <= ord(c) <= 126 for c in hrp):
        raise KeyFormatError("invalid character in human-readable part")
    lower = s.lower()
    try:
        values = [_CHARSET_REV[c] for c in lower[pos + 1 :]]
    except KeyError:
        raise KeyFormatError("invalid character in Bech32 data") from None
    if _polymod(_hrp_expand(lower[:pos]) + values) != 1:
        raise KeyFormatError("invalid Bech32 checksum")
    data = bytes(_convert_bits(values[:-6], 5, 8, False))
    return hrp, data


# --- strict unpadded base64 (the header's encoding) ---

_B64_RE = re.compile(r"[A-Za-z0-9+/]*")


def b64encode(data: bytes) -> str:
    """Standard base64 without padding."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64decode(s: str | bytes) -> bytes:
    """Decode canonical unpadded standard base64; raise :class:`ValueError` otherwise."""
    if isinstance(s, bytes):
        try:
            s = s.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError("non-ASCII base64") from None
    if not _B64_RE.fullmatch(s) or len(s) % 4 == 1:
        raise ValueError("invalid base64")
    try:
        out = base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except binascii.Error:
        raise ValueError("invalid base64") from None
    if b64encode(out) != s:
        raise ValueError("non-canonical base64")
    return out


# --- KDF / MAC / key wrapping ---


def hkdf_sha256(ikm: bytes, salt: bytes | None, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869); an empty or ``None`` salt means the all-zero salt."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    h = _hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def bytes_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison."""
    return constant_time.bytes_eq(a, b)


def shake256(data: bytes, length: int) -> bytes:
    h = hashes.Hash(hashes.SHAKE256(digest_size=length))
    h.update(data)
    return h.finalize()


def aead_wrap(key: bytes, file_key: bytes) -> bytes:
    """ChaCha20-Poly1305 with the all-zero nonce, as every age stanza body uses."""
    return ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)


def aead_unwrap(key: bytes, body: bytes) -> bytes | None:
    """Open a wrapped file key; ``None`` if the tag does not verify.

    The caller must have checked ``len(body) == FILE_KEY_SIZE + 16`` first.
    """
    try:
        return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, body, None)
    except InvalidTag:
        return None
