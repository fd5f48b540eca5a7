"""Endorsements: one key generation vouching for another (protocol.md §11).

    endorsement = statement("securechat/v2/endorsement", u64 user_id, u64 generation,
                            age_recipient, ed25519_pub(32))

The statement describes the *endorsed* generation's public keys. Rotation
signs two of them (DESIGN.md §3): the old generation's key signs the new
generation's statement, and the new key signs the old generation's. The
statement does not name the signer; the verifier supplies the key it expects.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import signing
from . import statements as st

__all__ = ["ENDORSEMENT", "Endorsed", "parse_endorsement", "sign_endorsement", "verify_endorsement"]

ENDORSEMENT = st.Schema(
    "securechat/v2/endorsement",
    (
        st.Field("user_id", st.Kind.U64),
        st.Field("generation", st.Kind.U64),
        st.Field("recipient", st.Kind.RECIPIENT),
        st.Field("ed25519", st.Kind.BYTES, 32),
    ),
)


@dataclass(frozen=True)
class Endorsed:
    """The public keys of one user's key generation."""

    user_id: int
    generation: int
    recipient: str
    ed25519: bytes

    def to_bytes(self) -> bytes:
        return st.encode(ENDORSEMENT, self.__dict__)


def parse_endorsement(data: bytes) -> Endorsed:
    """An endorsement statement from bytes; :class:`StatementError` if not canonical."""
    return Endorsed(**st.parse(ENDORSEMENT, data))


def sign_endorsement(signer: Ed25519PrivateKey, endorsed: Endorsed) -> tuple[bytes, bytes]:
    """``(statement bytes, signature)`` of ``endorsed`` by ``signer``."""
    data = endorsed.to_bytes()
    return data, signing.sign(signer, data)


def verify_endorsement(signer_public: bytes, data: bytes, signature: bytes) -> Endorsed:
    """The endorsed keys, if ``signature`` by ``signer_public`` verifies and ``data`` is canonical.

    Raises :class:`SignatureError` or :class:`StatementError`.
    """
    signing.verify(signer_public, data, signature)
    return parse_endorsement(data)
