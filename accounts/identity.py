"""A user's secret keys as one standard age identity file (DESIGN.md §3).

The file holds the age identity of every key generation, newest first, each
preceded by a ``# securechat-generation: N`` comment, and the current Ed25519
signing key in a ``# securechat-signing-key: N <base64>`` comment line. The
age tools ignore comments, so ``age -d -i file`` (or npm ``age-encryption``
for hybrid keys) reads it as it is.

Stored only wrapped: as an age file with one scrypt stanza (the password) and
as an age file encrypted to the user's recovery recipient. Nothing here
touches the database; ``accounts.actions`` does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import agecrypt

KEY_TYPES = ("hybrid", "x25519")
GENERATION_COMMENT = "# securechat-generation: "
SIGNING_COMMENT = "# securechat-signing-key: "

# Recovery codes: 26 characters of Crockford's base32 = 130 bits.
RECOVERY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECOVERY_LENGTH = 26
RECOVERY_GROUP = 5


class IdentityFileError(ValueError):
    """The identity file is not one SecureChat wrote (never says what it holds)."""


class RecoveryCodeError(ValueError):
    """The text is not a well-formed recovery code."""


def new_age_identity(key_type: str):
    if key_type == "hybrid":
        return agecrypt.HybridIdentity.generate()
    if key_type == "x25519":
        return agecrypt.X25519Identity.generate()
    raise ValueError(f"unknown key type {key_type!r}")


def key_type_of(identity) -> str:
    return "hybrid" if isinstance(identity, agecrypt.HybridIdentity) else "x25519"


@dataclass(frozen=True)
class IdentityFile:
    """Every generation's age identity (newest first) and the current signing key."""

    generations: tuple[tuple[int, object], ...]
    signing_key: Ed25519PrivateKey
    signing_generation: int

    @classmethod
    def create(cls, key_type: str) -> IdentityFile:
        return cls(((1, new_age_identity(key_type)),), Ed25519PrivateKey.generate(), 1)

    def with_new_generation(self, key_type: str) -> IdentityFile:
        """A new generation on top, keeping the old ones so history stays readable."""
        number = self.current_generation + 1
        return IdentityFile(
            ((number, new_age_identity(key_type)), *self.generations),
            Ed25519PrivateKey.generate(),
            number,
        )

    @property
    def current_generation(self) -> int:
        return self.generations[0][0]

    @property
    def current_identity(self):
        return self.generations[0][1]

    @property
    def identities(self) -> list:
        return [identity for _, identity in self.generations]

    def recipient(self):
        return self.current_identity.recipient()

    def signing_public_key(self) -> bytes:
        return self.signing_key.public_key().public_bytes_raw()

    def fingerprint(self) -> str:
        """The user's own fingerprint, from the unlocked keys (never from directory rows)."""
        return fingerprint(str(self.recipient()), self.signing_public_key())

    def serialize(self) -> bytes:
        seed = base64.b64encode(self.signing_key.private_bytes_raw()).decode()
        lines = [
            "# SecureChat identity file: age identities (newest first) and a signing key.",
            "# Decrypt age files with: age -d -i this-file",
            f"{SIGNING_COMMENT}{self.signing_generation} {seed}",
        ]
        for number, identity in self.generations:
            lines.append(f"{GENERATION_COMMENT}{number}")
            lines.append(str(identity))
        return ("\n".join(lines) + "\n").encode()

    @classmethod
    def parse(cls, data: bytes) -> IdentityFile:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise IdentityFileError("identity file is not UTF-8") from None
        generations: list[tuple[int, object]] = []
        signing_key = None
        signing_generation = None
        pending_number = None
        for line in text.splitlines():
            if line.startswith(SIGNING_COMMENT):
                parts = line[len(SIGNING_COMMENT):].split(" ")
                if len(parts) != 2 or signing_key is not None:
                    raise IdentityFileError("malformed signing key line")
                try:
                    signing_generation = int(parts[0])
                    signing_key = Ed25519PrivateKey.from_private_bytes(
                        base64.b64decode(parts[1], validate=True)
                    )
                except (ValueError, binascii.Error):
                    raise IdentityFileError("malformed signing key line") from None
            elif line.startswith(GENERATION_COMMENT):
                try:
                    pending_number = int(line[len(GENERATION_COMMENT):])
                except ValueError:
                    raise IdentityFileError("malformed generation line") from None
            elif line and not line.startswith("#"):
                if pending_number is None:
                    raise IdentityFileError("identity without a generation number")
                try:
                    (identity,) = agecrypt.parse_identities(line)
                except agecrypt.AgeError:
                    raise IdentityFileError("malformed identity line") from None
                generations.append((pending_number, identity))
                pending_number = None
        numbers = [n for n, _ in generations]
        if not generations or signing_key is None or numbers != sorted(numbers, reverse=True):
            raise IdentityFileError("incomplete identity file")
        if len(set(numbers)) != len(numbers) or signing_generation != numbers[0]:
            raise IdentityFileError("inconsistent identity file")
        return cls(tuple(generations), signing_key, signing_generation)


def fingerprint(recipient: str, signing_public_key: bytes) -> str:
    """SHA-256 over a user's current public keys as 12 groups of 5 digits.

    The digest read as a 256-bit integer, reduced mod 10^60 (2^256 is about
    10^77, so the 60 digits are as good as uniform), grouped like Signal's
    safety numbers.
    """
    digest = hashlib.sha256(
        b"securechat-fingerprint-v1\x00"
        + len(recipient).to_bytes(4, "big") + recipient.encode()
        + len(signing_public_key).to_bytes(4, "big") + signing_public_key
    ).digest()
    digits = str(int.from_bytes(digest, "big") % 10**60).zfill(60)
    return " ".join(digits[i:i + 5] for i in range(0, 60, 5))


# --- Recovery code -----------------------------------------------------------

def new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return format_recovery_code(raw)


def format_recovery_code(raw: str) -> str:
    return "-".join(raw[i:i + RECOVERY_GROUP] for i in range(0, len(raw), RECOVERY_GROUP))


_CROCKFORD_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def normalize_recovery_code(text: str) -> str:
    """Uppercase, without separators, Crockford's look-alikes mapped; or RecoveryCodeError."""
    if not isinstance(text, str) or len(text) > 100:
        raise RecoveryCodeError("A recovery code has 26 letters and digits.")
    cleaned = re.sub(r"[\s-]", "", text).upper().translate(_CROCKFORD_ALIASES)
    if len(cleaned) != RECOVERY_LENGTH or any(c not in RECOVERY_ALPHABET for c in cleaned):
        raise RecoveryCodeError("A recovery code has 26 letters and digits.")
    return cleaned


def recovery_identity(code: str, key_type: str):
    """The recovery age identity whose seed the code encodes (deterministic)."""
    seed = HKDF(
        algorithm=SHA256(), length=32, salt=b"securechat-recovery-v1",
        info=key_type.encode(),
    ).derive(normalize_recovery_code(code).encode())
    if key_type == "hybrid":
        return agecrypt.HybridIdentity.from_seed(seed)
    if key_type == "x25519":
        return agecrypt.X25519Identity.from_seed(seed)
    raise ValueError(f"unknown key type {key_type!r}")


# --- Wrapping ---------------------------------------------------------------

def wrap_under_password(identity_file: IdentityFile, password: str, work_factor: int) -> bytes:
    """The identity file as an age file with one scrypt stanza."""
    return agecrypt.encrypt(
        identity_file.serialize(), [agecrypt.ScryptRecipient(password, work_factor=work_factor)]
    )


def wrap_to_recipient(identity_file: IdentityFile, recipient) -> bytes:
    return agecrypt.encrypt(identity_file.serialize(), [recipient])


def unwrap(blob: bytes, age_identity) -> IdentityFile:
    """Open a wrapped identity file; agecrypt.AgeError when the key is wrong."""
    return IdentityFile.parse(agecrypt.decrypt(blob, [age_identity]))


def parse_recipient(text: str):
    if text.startswith("age1pq1"):
        return agecrypt.HybridRecipient.from_string(text)
    return agecrypt.X25519Recipient.from_string(text)


# --- Generation endorsement ---------------------------------------------------

def endorsement_message(user_id: int, number: int, recipient: str, signing_public: bytes) -> bytes:
    """What the previous generation's signing key signs to vouch for a new generation."""
    fields = [b"securechat-key-generation-v1", str(user_id).encode(), str(number).encode(),
              recipient.encode(), signing_public]
    return b"".join(len(f).to_bytes(4, "big") + f for f in fields)
