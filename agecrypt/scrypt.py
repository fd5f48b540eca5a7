"""Passphrase recipients and identities (the ``scrypt`` stanza).

Stanza: ``-> scrypt <base64 16-byte salt> <log2 work factor>``; the wrapping
key is scrypt(passphrase, salt="age-encryption.org/v1/scrypt" || salt,
N=2^work_factor, r=8, p=1). An scrypt stanza must be the only stanza of a
header (checked on encryption and decryption).

Decryption refuses work factors above 2^22 (as age does) and above the
identity's ``max_work_factor``, *before* running scrypt.
"""

from __future__ import annotations

import re

from cryptography.hazmat.primitives.kdf import scrypt as _kdf_scrypt

from . import _rand
from .errors import HeaderError, UsageError
from .header import Identity, Recipient, Stanza
from .primitives import FILE_KEY_SIZE, aead_unwrap, aead_wrap, b64decode, b64encode

__all__ = ["MAX_WORK_FACTOR", "ScryptIdentity", "ScryptRecipient"]

MAX_WORK_FACTOR = 22
DEFAULT_WORK_FACTOR = 18
_LABEL = b"age-encryption.org/v1/scrypt"
_SALT_SIZE = 16
_WORK_FACTOR_RE = re.compile(r"[1-9][0-9]{0,2}")


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    if isinstance(passphrase, str):
        passphrase = passphrase.encode("utf-8")
    if not isinstance(passphrase, bytes | bytearray):
        raise UsageError("passphrase must be str or bytes")
    if not passphrase:
        raise UsageError("passphrase must not be empty")
    return bytes(passphrase)


def _check_work_factor(work_factor: int, name: str) -> int:
    if (
        not isinstance(work_factor, int)
        or isinstance(work_factor, bool)
        or not 1 <= work_factor <= MAX_WORK_FACTOR
    ):
        raise UsageError(f"{name} must be an int between 1 and {MAX_WORK_FACTOR}")
    return work_factor


def _derive(passphrase: bytes, salt: bytes, work_factor: int) -> bytes:
    """scrypt(passphrase, label || salt, N=2^work_factor, r=8, p=1) → 32 bytes."""
    kdf = _kdf_scrypt.Scrypt(salt=_LABEL + salt, length=32, n=1 << work_factor, r=8, p=1)
    return kdf.derive(passphrase)


class ScryptRecipient(Recipient):
    """Encrypt to a passphrase. ``work_factor`` is log2(N); default 18 (age's default)."""

    __slots__ = ("_passphrase", "_work_factor")

    def __init__(self, passphrase: str | bytes, work_factor: int = DEFAULT_WORK_FACTOR) -> None:
        self._passphrase = _passphrase_bytes(passphrase)
        self._work_factor = _check_work_factor(work_factor, "work_factor")

    @property
    def work_factor(self) -> int:
        return self._work_factor

    def __repr__(self) -> str:
        return f"<ScryptRecipient work_factor={self._work_factor}>"

    def _wrap(self, file_key: bytes) -> list[Stanza]:
        salt = _rand._random_bytes(_SALT_SIZE)
        key = _derive(self._passphrase, salt, self._work_factor)
        args = (b64encode(salt), str(self._work_factor))
        return [Stanza("scrypt", args, aead_wrap(key, file_key))]


class ScryptIdentity(Identity):
    """Decrypt with a passphrase; refuses work factors above ``max_work_factor`` (≤ 22)."""

    __slots__ = ("_passphrase", "_max_work_factor")

    def __init__(self, passphrase: str | bytes, max_work_factor: int = MAX_WORK_FACTOR) -> None:
        self._passphrase = _passphrase_bytes(passphrase)
        self._max_work_factor = _check_work_factor(max_work_factor, "max_work_factor")

    def __repr__(self) -> str:
        return f"<ScryptIdentity max_work_factor={self._max_work_factor}>"

    def _unwrap_stanza(self, stanza: Stanza) -> bytes | None:
        if stanza.type != "scrypt":
            return None
        if len(stanza.args) != 2:
            raise HeaderError("invalid scrypt stanza: wrong number of arguments")
        try:
            salt = b64decode(stanza.args[0])
        except ValueError:
            raise HeaderError("invalid scrypt stanza: bad salt encoding") from None
        if len(salt) != _SALT_SIZE:
            raise HeaderError("invalid scrypt stanza: salt is not 16 bytes")
        if not _WORK_FACTOR_RE.fullmatch(stanza.args[1]):
            raise HeaderError("invalid scrypt stanza: malformed work factor")
        work_factor = int(stanza.args[1])
        if work_factor > self._max_work_factor:
            raise HeaderError(f"scrypt work factor 2^{work_factor} is too large")
        if len(stanza.body) != FILE_KEY_SIZE + 16:
            raise HeaderError("invalid scrypt stanza: wrapped file key has the wrong size")
        key = _derive(self._passphrase, salt, work_factor)
        return aead_unwrap(key, stanza.body)
