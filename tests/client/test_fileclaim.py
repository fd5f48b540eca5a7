"""client.fileclaim: the signed file claim beside a v2 file message (protocol.md §20)."""

from __future__ import annotations

import struct

import pytest

from client import errors, signing
from client.fileclaim import (
    FileClaim,
    parse_file_claim,
    sign_file_claim,
    upload_id_bytes,
    verify_file_claim,
)
from tests.client._vectors import negatives, positives

GOOD = positives("fileclaim.json")
BAD = negatives("fileclaim.json")


def spelled_out(v: dict) -> bytes:
    """The statement written from the spec (§1, §20), independent of client.statements."""
    f = lambda b: struct.pack(">I", len(b)) + b  # noqa: E731
    parts = [b"securechat/v2/file-claim", bytes.fromhex(v["conversation_id"]),
             bytes.fromhex(v["client_message_id"]), bytes.fromhex(v["upload_id"]),
             struct.pack(">Q", v["sender_id"]), struct.pack(">Q", v["sender_generation"])]
    return b"".join(f(p) for p in parts)


@pytest.mark.parametrize("v", GOOD)
def test_the_vector_statement_is_the_spec_encoding_and_verifies(v):
    assert spelled_out(v).hex() == v["statement"]
    claim = verify_file_claim(bytes.fromhex(v["ed25519"]), bytes.fromhex(v["statement"]),
                              bytes.fromhex(v["signature"]))
    assert claim.upload_id_hex == v["upload_id"]
    assert (claim.sender_id, claim.sender_generation) == (v["sender_id"], v["sender_generation"])
    assert claim.to_bytes().hex() == v["statement"]


@pytest.mark.parametrize("v", BAD, ids=[v["why"] for v in BAD])
def test_each_negative_vector_is_refused_with_its_code(v):
    with pytest.raises(errors.ClientCryptoError) as caught:
        verify_file_claim(bytes.fromhex(v["ed25519"]), bytes.fromhex(v["statement"]),
                          bytes.fromhex(v["signature"]))
    assert caught.value.code == v["error"]


def test_sign_then_parse_round_trips():
    key = signing.signing_key_from_seed(bytes(range(32)))
    claim = FileClaim(bytes(16), b"\x01" * 16, upload_id_bytes("ab" * 16), 7, 2)
    data, sig = sign_file_claim(key, claim)
    assert parse_file_claim(data) == claim
    assert verify_file_claim(signing.public_key_bytes(key), data, sig) == claim


@pytest.mark.parametrize("bad", ["AB" * 16, "ab" * 15, "zz" * 16, ""])
def test_an_upload_id_is_32_lowercase_hex_digits(bad):
    with pytest.raises(errors.UsageError):
        upload_id_bytes(bad)
