"""client.endorsement: two-way endorsements between key generations."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from client import signing
from client.endorsement import Endorsed, parse_endorsement, sign_endorsement, verify_endorsement
from client.errors import SignatureError, StatementError
from tests.client._vectors import field, load

VECTORS = load("endorsement.json")


@pytest.mark.parametrize("entry", VECTORS)
def test_vectors(entry):
    endorsed = Endorsed(entry["user_id"], entry["generation"], entry["recipient"],
                        bytes.fromhex(entry["ed25519"]))
    signer = signing.signing_key_from_seed(bytes.fromhex(entry["signer_seed"]))
    data, sig = sign_endorsement(signer, endorsed)
    assert data.hex() == entry["statement"] and sig.hex() == entry["signature"]
    assert verify_endorsement(bytes.fromhex(entry["signer_public"]), data, sig) == endorsed


@pytest.mark.parametrize("entry", VECTORS)
def test_vectors_against_an_independent_encoding_and_verifier(entry):
    data = (field(b"securechat/v2/endorsement") + field(entry["user_id"].to_bytes(8, "big"))
            + field(entry["generation"].to_bytes(8, "big")) + field(entry["recipient"].encode())
            + field(bytes.fromhex(entry["ed25519"])))
    assert data.hex() == entry["statement"]
    pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(entry["signer_public"]))
    pub.verify(bytes.fromhex(entry["signature"]), data)  # raises if wrong


def test_vectors_are_two_way():
    """Generation 2 is signed by generation 1's key and generation 1 by generation 2's."""
    by_user: dict = {}
    for e in VECTORS:
        by_user.setdefault(e["user_id"], {})[e["generation"]] = e
    for gens in by_user.values():
        assert gens[2]["signer_public"] == gens[1]["ed25519"]
        assert gens[1]["signer_public"] == gens[2]["ed25519"]


def test_wrong_signer_tampered_statement_and_bad_sizes_are_refused():
    e = VECTORS[0]
    data, sig = bytes.fromhex(e["statement"]), bytes.fromhex(e["signature"])
    with pytest.raises(SignatureError):
        verify_endorsement(bytes.fromhex(e["ed25519"]), data, sig)  # not the signer
    with pytest.raises(SignatureError):
        verify_endorsement(bytes.fromhex(e["signer_public"]), data[:-1] + b"\x00", sig)
    with pytest.raises(SignatureError):
        verify_endorsement(bytes.fromhex(e["signer_public"]), data, sig[:63])
    with pytest.raises(SignatureError):
        verify_endorsement(bytes.fromhex(e["signer_public"])[:31], data, sig)


def test_non_canonical_statement_is_refused_even_when_signed():
    e = VECTORS[0]
    signer = signing.signing_key_from_seed(bytes.fromhex(e["signer_seed"]))
    data = bytes.fromhex(e["statement"]) + b"\x00"
    with pytest.raises(StatementError):
        verify_endorsement(bytes.fromhex(e["signer_public"]), data, signing.sign(signer, data))
    with pytest.raises(StatementError):
        parse_endorsement(bytes.fromhex(e["statement"]).replace(b"endorsement", b"endorsemenT"))
