"""Public-key helpers of the account directory (DESIGN.md §3).

The server holds no private key: identities are made, wrapped and unwrapped on
the clients (client/identity.py, static/js/crypto/identityfile.js). What is
left here works on public keys only.
"""

from __future__ import annotations

import hashlib


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
