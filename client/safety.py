"""Safety numbers and the QR payload (docs/protocol.md §8).

    F(user) = SHA-512( statement("securechat/v2/safety", u64 user_id, ed25519_pub(32),
                                 age_recipient) )

Each user contributes six groups: F[0:30] as six 5-byte slices, each read
big-endian mod 100000 and zero-padded to 5 digits. The safety number is the
twelve groups, the smaller user id first, joined by single spaces. The QR
payload is ``securechat-safety:2:<hex F_low>:<hex F_high>`` (lowercase hex).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from . import statements as st
from .errors import SafetyNumberError, UsageError

__all__ = [
    "SAFETY",
    "UserKeys",
    "fingerprint",
    "qr_payload",
    "safety_number",
    "verify_qr",
]

SAFETY = st.Schema(
    "securechat/v2/safety",
    (
        st.Field("user_id", st.Kind.U64),
        st.Field("ed25519", st.Kind.BYTES, 32),
        st.Field("recipient", st.Kind.RECIPIENT),
    ),
)
_QR_PREFIX = "securechat-safety:2:"
_QR = re.compile(r"securechat-safety:2:([0-9a-f]{128}):([0-9a-f]{128})")


@dataclass(frozen=True)
class UserKeys:
    """One user's current public keys as the verifier has pinned them."""

    user_id: int
    ed25519: bytes
    recipient: str


def fingerprint(user: UserKeys) -> bytes:
    """F(user): the 64-byte SHA-512 of the user's safety statement."""
    values = {"user_id": user.user_id, "ed25519": user.ed25519, "recipient": user.recipient}
    return hashlib.sha512(st.encode(SAFETY, values)).digest()


def _groups(f: bytes) -> list[str]:
    return [f"{int.from_bytes(f[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5)]


def _ordered(a: UserKeys, b: UserKeys) -> tuple[UserKeys, UserKeys]:
    if not isinstance(a, UserKeys) or not isinstance(b, UserKeys):
        raise UsageError("safety numbers compare two UserKeys")
    if a.user_id == b.user_id:
        raise SafetyNumberError("a safety number compares two different users")
    return (a, b) if a.user_id < b.user_id else (b, a)


def safety_number(a: UserKeys, b: UserKeys) -> str:
    """The 12 groups of 5 digits both users see (order of arguments does not matter)."""
    low, high = _ordered(a, b)
    return " ".join(_groups(fingerprint(low)) + _groups(fingerprint(high)))


def qr_payload(a: UserKeys, b: UserKeys) -> str:
    """The QR code's text: both full fingerprints, lower user id first."""
    low, high = _ordered(a, b)
    return f"{_QR_PREFIX}{fingerprint(low).hex()}:{fingerprint(high).hex()}"


def verify_qr(scanned: str, a: UserKeys, b: UserKeys) -> bool:
    """True iff ``scanned`` is exactly the payload for these two users' keys.

    A malformed payload raises :class:`SafetyNumberError`; a well-formed one for
    other keys returns False (the caller shows "does not match").
    """
    if not isinstance(scanned, str) or not _QR.fullmatch(scanned):
        raise SafetyNumberError("not a SecureChat safety QR code")
    return scanned == qr_payload(a, b)
