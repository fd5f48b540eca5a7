"""client.messagebox: the box, its padding, and the signed message statement."""

from __future__ import annotations

import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from client import _clock, _rand, signing
from client.errors import (
    BoxAuthError,
    BoxError,
    BoxFormatError,
    PaddingError,
    SignatureError,
    StatementError,
    UsageError,
)
from client.messagebox import (
    MessageContext,
    bucket_size,
    build_statement,
    encode_text,
    message_hash,
    open_box,
    pad,
    parse_plaintext,
    parse_statement,
    seal,
    sign_statement,
    unpad,
    verify_statement,
)
from tests.client._vectors import field, hkdf_sha256, negatives, positives

GOOD = positives("messagebox.json")
BAD = negatives("messagebox.json")


def _ctx(d: dict) -> MessageContext:
    return MessageContext(**{k: bytes.fromhex(v) if isinstance(v, str) else v
                             for k, v in d.items()})


def _id(e: dict) -> str:
    return f"{len(e['plaintext_json'])}B"


@pytest.mark.parametrize("entry", GOOD, ids=_id)
def test_box_vectors(entry):
    ctx, secret = _ctx(entry["context"]), bytes.fromhex(entry["epoch_secret"])
    plaintext = entry["plaintext_json"].encode("utf-8")
    assert ctx.to_bytes().hex() == entry["context_bytes"]
    assert len(pad(plaintext)) == entry["padded_len"]
    with _rand.replay(bytes.fromhex(entry["box_salt"])):
        assert seal(secret, ctx, plaintext).hex() == entry["box"]
    assert open_box(secret, ctx, bytes.fromhex(entry["box"])) == plaintext


@pytest.mark.parametrize("entry", GOOD, ids=_id)
def test_box_vectors_open_with_an_independent_implementation(entry):
    c = entry["context"]
    u64 = lambda n: struct.pack(">Q", n)  # noqa: E731
    context = b"".join(field(x) for x in [
        bytes.fromhex(c["conversation_id"]), u64(c["epoch"]), bytes.fromhex(c["envelope_hash"]),
        u64(c["sender_id"]), u64(c["sender_generation"]), bytes.fromhex(c["device_id"]),
        u64(c["device_counter"])])
    assert context.hex() == entry["context_bytes"]
    box = bytes.fromhex(entry["box"])
    assert box[0] == 2 and box[1:17].hex() == entry["box_salt"] and len(box) <= 48 * 1024
    key = hkdf_sha256(bytes.fromhex(entry["epoch_secret"]), box[1:17],
                      b"securechat/v2/message" + context)
    assert key.hex() == entry["key"]
    padded = ChaCha20Poly1305(key).decrypt(bytes(12), box[17:], context)
    n = struct.unpack(">I", padded[:4])[0]
    assert len(padded) == entry["padded_len"] and padded[4 + n:] == bytes(len(padded) - 4 - n)
    assert padded[4:4 + n].decode("utf-8") == entry["plaintext_json"]


@pytest.mark.parametrize("entry", GOOD, ids=_id)
def test_statement_vectors(entry):
    ctx, box = _ctx(entry["context"]), bytes.fromhex(entry["box"])
    f = entry["statement_fields"]
    stmt = build_statement(
        ctx, box, client_message_id=bytes.fromhex(f["client_message_id"]), kind=f["kind"],
        prev_hash=bytes.fromhex(f["prev_hash"]), seen_seq=f["seen_seq"],
        seen_hash=bytes.fromhex(f["seen_hash"]), client_clock_ms=f["client_clock_ms"])
    key = signing.signing_key_from_seed(bytes.fromhex(entry["ed25519_seed"]))
    data, sig = sign_statement(key, stmt)
    assert data.hex() == entry["statement"] and sig.hex() == entry["signature"]
    assert message_hash(data).hex() == entry["message_hash"]
    pub = bytes.fromhex(entry["ed25519_public"])
    assert verify_statement(pub, data, sig, context=ctx, box=box) == stmt


@pytest.mark.parametrize("entry", GOOD, ids=_id)
def test_statement_vectors_against_an_independent_encoding(entry):
    f, c = entry["statement_fields"], entry["context"]
    box = bytes.fromhex(entry["box"])
    assert hashlib.sha256(box[1:]).hexdigest() == f["box_hash"]
    u64 = lambda n: struct.pack(">Q", n)  # noqa: E731
    parts = [b"securechat/v2/message", bytes.fromhex(c["conversation_id"]), u64(c["epoch"]),
             bytes.fromhex(c["envelope_hash"]), u64(c["sender_id"]), u64(c["sender_generation"]),
             bytes.fromhex(c["device_id"]), u64(c["device_counter"]),
             bytes.fromhex(f["client_message_id"]), f["kind"].encode(),
             bytes.fromhex(f["box_hash"]), bytes.fromhex(f["prev_hash"]), u64(f["seen_seq"]),
             bytes.fromhex(f["seen_hash"]), u64(f["client_clock_ms"])]
    data = b"".join(field(p) for p in parts)
    assert data.hex() == entry["statement"]
    assert hashlib.sha256(data).hexdigest() == entry["message_hash"]
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(entry["ed25519_public"])).verify(
        bytes.fromhex(entry["signature"]), data)


def test_vectors_cover_every_bucket_and_both_hash_defaults():
    assert {e["padded_len"] for e in GOOD} == {256, 1024, 4096, 16384, 32768}
    assert any(e["statement_fields"]["prev_hash"] == "00" * 32 for e in GOOD)
    assert any(e["statement_fields"]["seen_hash"] != "00" * 32 for e in GOOD)


ERRORS = {"bad_tag": BoxAuthError, "bad_format": BoxFormatError, "bad_padding": PaddingError}


@pytest.mark.parametrize("entry", BAD, ids=lambda e: e["why"])
def test_negative_vectors_fail_with_their_typed_error(entry):
    with pytest.raises(ERRORS[entry["error"]]) as info:
        open_box(bytes.fromhex(entry["epoch_secret"]), _ctx(entry["context"]),
                 bytes.fromhex(entry["box"]))
    assert info.value.code == entry["error"] and isinstance(info.value, BoxError)


def test_negative_vectors_cover_what_the_spec_names():
    whys = " ".join(e["why"] for e in BAD)
    for word in ["epoch number", "epoch secret", "salt", "ciphertext", "conversation",
                 "padding", "length beyond"]:
        assert word in whys


def test_every_single_byte_flip_fails():
    e = GOOD[1]
    ctx, secret, box = _ctx(e["context"]), bytes.fromhex(e["epoch_secret"]), bytes.fromhex(e["box"])
    for i in range(len(box)):
        tampered = box[:i] + bytes([box[i] ^ 0x80]) + box[i + 1:]
        with pytest.raises(BoxError):
            open_box(secret, ctx, tampered)


def test_buckets():
    assert [bucket_size(n) for n in (0, 4, 256, 257, 1024, 1025, 4097, 16384, 16385, 32769)] \
        == [256, 256, 256, 1024, 1024, 4096, 16384, 16384, 32768, 49152]
    for n in (0, 1, 252, 253, 20000):
        assert unpad(pad(b"a" * n)) == b"a" * n


def test_too_large_a_message_is_refused_when_sealing():
    ctx, secret = _ctx(GOOD[0]["context"]), bytes(32)
    seal(secret, ctx, b"x" * (32768 - 4))
    with pytest.raises(UsageError):
        seal(secret, ctx, b"x" * (32768 - 3))


@pytest.mark.parametrize("secret", [bytes(31), bytes(33), "0" * 32])
def test_epoch_secret_must_be_32_bytes(secret):
    with pytest.raises(UsageError):
        seal(secret, _ctx(GOOD[0]["context"]), b"{}")


def test_salts_come_from_the_seam_and_differ_per_box():
    ctx, secret = _ctx(GOOD[0]["context"]), bytes(32)
    assert seal(secret, ctx, b"{}")[1:17] != seal(secret, ctx, b"{}")[1:17]
    with _rand.replay(b"\x07" * 16):
        assert seal(secret, ctx, b"{}")[1:17] == b"\x07" * 16


def test_plaintext_parsing():
    doc = parse_plaintext(encode_text("h\u00e9 \U0001f44b"))
    assert doc == {"v": 2, "type": "text", "text": "h\u00e9 \U0001f44b"}
    assert encode_text("a") == b'{"v":2,"type":"text","text":"a"}'
    for bad in [b"[]", b"{", b"\xff", b'{"v":2}', b'{"v":"2","type":"text"}',
                b'{"v":2.0,"type":"text"}', b'{"v":true,"type":"text"}', b'{"v":1,"type":"t"}',
                b'{"v":2,"type":"text","v":2}']:
        with pytest.raises(BoxFormatError):
            parse_plaintext(bad)


def _signed(entry: dict) -> tuple:
    ctx, box = _ctx(entry["context"]), bytes.fromhex(entry["box"])
    return (bytes.fromhex(entry["ed25519_public"]), bytes.fromhex(entry["statement"]),
            bytes.fromhex(entry["signature"]), ctx, box)


def test_a_statement_for_another_context_or_box_is_refused():
    pub, data, sig, ctx, box = _signed(GOOD[0])
    other_ctx = MessageContext(**{**ctx.values(), "device_counter": ctx.device_counter + 1})
    with pytest.raises(StatementError):
        verify_statement(pub, data, sig, context=other_ctx, box=box)
    with pytest.raises(StatementError):
        verify_statement(pub, data, sig, context=ctx, box=bytes.fromhex(GOOD[1]["box"]))


def test_a_bad_signature_is_refused():
    pub, data, sig, ctx, box = _signed(GOOD[0])
    with pytest.raises(SignatureError):
        verify_statement(pub, data, sig[:-1] + bytes([sig[-1] ^ 1]), context=ctx, box=box)
    other_pub = bytes.fromhex(GOOD[1]["ed25519_public"])
    with pytest.raises(SignatureError):
        verify_statement(other_pub, data, sig, context=ctx, box=box)


def test_statement_fields_are_validated_when_built():
    _, _, _, ctx, box = _signed(GOOD[0])
    for bad in [{"client_message_id": bytes(15), "kind": "text"},
                {"client_message_id": bytes(16), "kind": "te xt"},
                {"client_message_id": bytes(16), "kind": "text", "prev_hash": bytes(31)},
                {"client_message_id": bytes(16), "kind": "text", "seen_seq": -1}]:
        with pytest.raises(UsageError):
            build_statement(ctx, box, **bad)


def test_the_clock_comes_from_the_seam():
    _, _, _, ctx, box = _signed(GOOD[0])
    with _clock.frozen(1234):
        stmt = build_statement(ctx, box, client_message_id=bytes(16), kind="text")
    assert stmt.client_clock_ms == 1234
    now = build_statement(ctx, box, client_message_id=bytes(16), kind="text").client_clock_ms
    assert now > 1_700_000_000_000
    assert parse_statement(stmt.to_bytes()) == stmt
