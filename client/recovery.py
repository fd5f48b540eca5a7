"""Recovery codes and the recovery age identity they seed (docs/protocol.md §6).

A code is 26 Crockford base32 characters (130 bits) from
``0123456789ABCDEFGHJKMNPQRSTVWXYZ``, shown as ``XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-X``.

Parsing removes whitespace (the :data:`~client.normalise.TRIM_CHARS` set) and
``-``, then refuses any non-ASCII character, uppercases (ASCII), maps
``O``→0, ``I``→1, ``L``→1, and requires exactly 26 characters of the
alphabet. Refusing non-ASCII *before* uppercasing is a decision: a full
Unicode uppercase would turn a dotless ``ı`` into ``I`` (then 1) and ``ß``
into ``SS``, accepting text nobody was shown.

    seed = HKDF-SHA256(ikm=ascii(code26), salt="securechat/v2/recovery", info=key_type, L=32)

and the recovery identity is ``X25519Identity.from_seed(seed)`` or
``HybridIdentity.from_seed(seed)``.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import agecrypt

from . import _rand
from .errors import RecoveryCodeError, UsageError
from .normalise import TRIM_CHARS

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "KEY_TYPES",
    "format_code",
    "generate_code",
    "parse_code",
    "recovery_identity",
    "recovery_seed",
]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 26  # 26 x 5 bits = 130 bits
GROUP = 5
KEY_TYPES = ("hybrid", "x25519")
_SALT = b"securechat/v2/recovery"
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = frozenset(TRIM_CHARS + "-")


def generate_code() -> str:
    """A fresh code in display form, 130 bits from the private randomness seam."""
    # 17 random bytes = 136 bits; the top 130 bits become 26 characters.
    value = int.from_bytes(_rand._random_bytes(17), "big") >> 6
    chars = [ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(CODE_LENGTH))]
    return format_code("".join(chars))


def format_code(code: str) -> str:
    """The display form (groups of 5 joined by ``-``) of any spelling of a valid code."""
    raw = parse_code(code)
    return "-".join(raw[i : i + GROUP] for i in range(0, CODE_LENGTH, GROUP))


def parse_code(text: str) -> str:
    """The 26-character normalised code, or :class:`RecoveryCodeError` (never echoes input)."""
    if not isinstance(text, str):
        raise RecoveryCodeError("a recovery code is text")
    kept = "".join(c for c in text if c not in _SEPARATORS)
    if not kept.isascii():
        raise RecoveryCodeError("a recovery code has 26 letters and digits")
    code = kept.upper().translate(_ALIASES)
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        raise RecoveryCodeError("a recovery code has 26 letters and digits")
    return code


def recovery_seed(code: str, key_type: str) -> bytes:
    """The 32-byte seed of the recovery identity of ``key_type`` for ``code`` (any spelling)."""
    if key_type not in KEY_TYPES:
        raise UsageError("key_type is 'hybrid' or 'x25519'")
    return HKDF(algorithm=SHA256(), length=32, salt=_SALT, info=key_type.encode("ascii")).derive(
        parse_code(code).encode("ascii")
    )


def recovery_identity(code: str, key_type: str) -> agecrypt.Identity:
    """The recovery age identity (deterministic: the same code gives the same key)."""
    seed = recovery_seed(code, key_type)
    if key_type == "hybrid":
        return agecrypt.HybridIdentity.from_seed(seed)
    return agecrypt.X25519Identity.from_seed(seed)
