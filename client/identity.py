"""The v2 identity file, and wrapping it under the passphrase or the recovery recipient.

The identity file (docs/protocol.md §7) is a standard age identity file:
every key generation's age identity, newest first, each preceded by
``# securechat-generation: N``; the current Ed25519 signing key in
``# securechat-signing-key: N <base64 seed>``; and the user's recovery
recipient in ``# securechat-recovery: <recipient>``. The age tools ignore
``#`` lines, so ``age -d -i file`` reads it as it is.

It is stored only wrapped: as an age file with one scrypt stanza of work
factor 10 under ``passphrase`` (see :mod:`client.derivation`), and as an age
file to the recovery recipient. Every unwrap checks the header's shape first,
so nothing expensive runs on a file of the wrong shape. Nothing here imports
the server (accounts/identity.py is v1's server-side twin and stays until the
cutover).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import agecrypt
from agecrypt.header import parse_header

from . import _rand
from .derivation import (
    MIN_WORK_FACTOR,
    WRAP_WORK_FACTOR,
    DerivedKeys,
    check_wrapped_identity,
    derive_keys,
)
from .errors import (
    IdentityFileError,
    KeyMismatchError,
    UnwrapError,
    UsageError,
    WrappedIdentityError,
)
from .recovery import KEY_TYPES, recovery_identity

__all__ = [
    "MAX_WRAPPED_SIZE",
    "IdentityFile",
    "unlock_with_password",
    "unwrap_with_passphrase",
    "unwrap_with_recovery",
    "wrap_to_recovery",
    "wrap_with_passphrase",
]

MAX_WRAPPED_SIZE = 1024 * 1024  # far above any real identity file; refuses a flood
_HEADER_LINES = (
    "# SecureChat identity file (v2): age identities, newest first, and a signing key.",
    "# Decrypt age files with: age -d -i this-file",
)
_SIGNING = "# securechat-signing-key: "
_RECOVERY = "# securechat-recovery: "
_GENERATION = "# securechat-generation: "
_DIRECTIVE = "# securechat-"
_NUMBER = re.compile(r"[1-9][0-9]{0,19}")
_STANZA_TYPE = {"x25519": "X25519", "hybrid": "mlkem768x25519"}


def _new_identity(key_type: str) -> agecrypt.Identity:
    seed = _rand._random_bytes(32)
    if key_type == "hybrid":
        return agecrypt.HybridIdentity.from_seed(seed)
    if key_type == "x25519":
        return agecrypt.X25519Identity.from_seed(seed)
    raise UsageError("key_type is 'hybrid' or 'x25519'")


def _canonical_recipient(text: str) -> str:
    try:
        ok = str(agecrypt.parse_recipient(text)) == text
    except agecrypt.AgeError:
        ok = False
    if not ok:
        raise IdentityFileError("malformed recovery recipient")
    return text


@dataclass(frozen=True, repr=False)
class IdentityFile:
    """Every generation's age identity (newest first), signing key and recovery recipient."""

    generations: tuple[tuple[int, agecrypt.Identity], ...]
    signing_key: Ed25519PrivateKey
    signing_generation: int
    recovery_recipient: str

    def __repr__(self) -> str:  # never the secrets
        return f"<IdentityFile generation={self.current_generation}>"

    @classmethod
    def create(cls, key_type: str, recovery_recipient: str, generation: int = 1
               ) -> IdentityFile:
        """One generation (1 for a new account; the next number for a reset without the
        recovery code), with fresh keys from the randomness seam."""
        if not isinstance(recovery_recipient, str):
            raise UsageError("the recovery recipient is a str")
        if isinstance(generation, bool) or not isinstance(generation, int) or generation < 1:
            raise UsageError("a generation number is a positive int")
        identity = _new_identity(key_type)
        signing = Ed25519PrivateKey.from_private_bytes(_rand._random_bytes(32))
        return cls(((generation, identity),), signing, generation,
                   _canonical_recipient(recovery_recipient))

    def with_new_generation(self, key_type: str) -> IdentityFile:
        """A new generation on top (new age and signing keys); old ones stay for history."""
        number = self.current_generation + 1
        identity = _new_identity(key_type)
        signing = Ed25519PrivateKey.from_private_bytes(_rand._random_bytes(32))
        return IdentityFile(
            ((number, identity), *self.generations), signing, number, self.recovery_recipient
        )

    def with_recovery_recipient(self, recovery_recipient: str) -> IdentityFile:
        """The same keys with a new recovery recipient (after the recovery code rotates)."""
        recipient = _canonical_recipient(recovery_recipient)
        return IdentityFile(self.generations, self.signing_key, self.signing_generation, recipient)

    @property
    def current_generation(self) -> int:
        return self.generations[0][0]

    @property
    def current_identity(self) -> agecrypt.Identity:
        return self.generations[0][1]

    @property
    def identities(self) -> list[agecrypt.Identity]:
        return [identity for _, identity in self.generations]

    def recipient(self) -> str:
        """The current generation's age recipient string."""
        return str(self.current_identity.recipient())

    def signing_public_key(self) -> bytes:
        return self.signing_key.public_key().public_bytes_raw()

    def serialize(self) -> bytes:
        """The canonical bytes (UTF-8, LF line ends); :meth:`parse` gives back an equal file."""
        seed = base64.b64encode(self.signing_key.private_bytes_raw()).decode("ascii")
        lines = [
            *_HEADER_LINES,
            f"{_SIGNING}{self.signing_generation} {seed}",
            f"{_RECOVERY}{self.recovery_recipient}",
        ]
        for number, identity in self.generations:
            lines += [f"{_GENERATION}{number}", str(identity)]
        return ("\n".join(lines) + "\n").encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> IdentityFile:
        """Parse an identity file strictly; :class:`IdentityFileError` on anything unexpected."""
        return _IdentityFileParser(data).finish()


class _IdentityFileParser:
    """Line-by-line reader of :meth:`IdentityFile.parse` (kept apart to keep each step short)."""

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray):
            raise IdentityFileError("an identity file is bytes")
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise IdentityFileError("identity file is not UTF-8") from None
        if not text.endswith("\n") or "\r" in text:
            raise IdentityFileError("identity file lines end with LF only")
        self.generations: list[tuple[int, agecrypt.Identity]] = []
        self.signing: tuple[int, Ed25519PrivateKey] | None = None
        self.recovery: str | None = None
        self.pending: int | None = None
        for line in text[:-1].split("\n"):
            self._line(line)

    def _line(self, line: str) -> None:
        if self.pending is not None:
            self._identity(line)
        elif line.startswith(_SIGNING) and self.signing is None:
            number, _, seed = line[len(_SIGNING) :].partition(" ")
            self.signing = (_number(number), _signing_key(seed))
        elif line.startswith(_RECOVERY) and self.recovery is None:
            self.recovery = _canonical_recipient(line[len(_RECOVERY) :])
        elif line.startswith(_GENERATION):
            self.pending = _number(line[len(_GENERATION) :])
        elif line.startswith(_DIRECTIVE) or not line.startswith("#"):
            raise IdentityFileError("unexpected or repeated line in identity file")

    def _identity(self, line: str) -> None:
        try:
            identity = agecrypt.parse_identity(line)
        except agecrypt.AgeError:
            raise IdentityFileError("malformed identity line") from None
        if str(identity) != line:
            raise IdentityFileError("identity line is not canonical")
        self.generations.append((self.pending, identity))
        self.pending = None

    def finish(self) -> IdentityFile:
        if self.pending is not None or not self.generations:
            raise IdentityFileError("incomplete identity file")
        if self.signing is None or self.recovery is None:
            raise IdentityFileError("incomplete identity file")
        numbers = [n for n, _ in self.generations]
        if any(a <= b for a, b in zip(numbers, numbers[1:], strict=False)):
            raise IdentityFileError("generations must be strictly newest first")
        if self.signing[0] != numbers[0]:
            raise IdentityFileError("the signing key is not the newest generation's")
        return IdentityFile(tuple(self.generations), self.signing[1], numbers[0], self.recovery)


def _number(text: str) -> int:
    if not _NUMBER.fullmatch(text) or int(text) >= 2**64:
        raise IdentityFileError("malformed generation number")
    return int(text)


def _signing_key(text: str) -> Ed25519PrivateKey:
    try:
        seed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise IdentityFileError("malformed signing key line") from None
    if len(seed) != 32 or base64.b64encode(seed).decode("ascii") != text:
        raise IdentityFileError("malformed signing key line")
    return Ed25519PrivateKey.from_private_bytes(seed)


# --- wrapping ----------------------------------------------------------------


def wrap_with_passphrase(identity_file: IdentityFile, passphrase: str) -> bytes:
    """An age file with one scrypt stanza (work factor 10) under ``passphrase``."""
    recipient = agecrypt.ScryptRecipient(passphrase, work_factor=WRAP_WORK_FACTOR)
    return agecrypt.encrypt(identity_file.serialize(), [recipient])


def wrap_to_recovery(identity_file: IdentityFile) -> bytes:
    """An age file to the file's own recovery recipient (never one taken from the server)."""
    recipient = agecrypt.parse_recipient(identity_file.recovery_recipient)
    return agecrypt.encrypt(identity_file.serialize(), [recipient])


def _open(blob: bytes, identity: agecrypt.Identity) -> IdentityFile:
    try:
        plaintext = agecrypt.decrypt(bytes(blob), [identity])
    except agecrypt.HeaderError:
        raise WrappedIdentityError("malformed stanza in wrapped identity") from None
    except agecrypt.AgeError:
        raise UnwrapError("the wrapped identity did not open") from None
    return IdentityFile.parse(plaintext)


def _check_size(blob: bytes) -> None:
    if not isinstance(blob, bytes | bytearray) or len(blob) > MAX_WRAPPED_SIZE:
        raise WrappedIdentityError("a wrapped identity is bytes, at most 1 MiB")


def unwrap_with_passphrase(blob: bytes, passphrase: str) -> IdentityFile:
    """Open a password-wrapped identity; the header's shape is checked before scrypt runs."""
    _check_size(blob)
    check_wrapped_identity(blob)
    identity = agecrypt.ScryptIdentity(passphrase, max_work_factor=WRAP_WORK_FACTOR)
    return _open(blob, identity)


def unlock_with_password(
    blob: bytes,
    email: str,
    account_salt: bytes,
    password: str,
    work_factor: int,
    *,
    min_work_factor: int = MIN_WORK_FACTOR,
) -> tuple[IdentityFile, DerivedKeys]:
    """Check the wrapped identity's shape, then derive the keys, then open it (login)."""
    _check_size(blob)
    check_wrapped_identity(blob)  # before the expensive password scrypt, too
    keys = derive_keys(email, account_salt, password, work_factor, min_work_factor=min_work_factor)
    return unwrap_with_passphrase(blob, keys.passphrase), keys


def _check_recovery_header(blob: bytes, key_type: str) -> None:
    try:
        header = parse_header(io.BytesIO(bytes(blob)))
    except agecrypt.AgeError:
        raise WrappedIdentityError("not a binary age file") from None
    types = [s.type for s in header.stanzas]
    if types != [_STANZA_TYPE[key_type]]:
        raise WrappedIdentityError("a recovery copy has one stanza of the recovery key type")


def unwrap_with_recovery(blob: bytes, code: str, key_type: str) -> IdentityFile:
    """Open the recovery copy with a recovery code.

    Refuses (before any decryption) a file that is not exactly one stanza of
    ``key_type``, and refuses (:class:`KeyMismatchError`) a file whose recovery
    line names another recipient than the code's. The caller must still check
    the public keys against the directory's generations and endorsements.
    """
    if key_type not in KEY_TYPES:
        raise UsageError("key_type is 'hybrid' or 'x25519'")
    _check_size(blob)
    _check_recovery_header(blob, key_type)
    identity = recovery_identity(code, key_type)
    identity_file = _open(blob, identity)
    if identity_file.recovery_recipient != str(identity.recipient()):
        raise KeyMismatchError("the recovery copy names another recovery recipient")
    return identity_file
