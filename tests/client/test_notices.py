"""client.notices: the cannot-open notice and the pin blob."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import agecrypt
from agecrypt import _rand as age_rand
from client import _clock, errors
from client import fingerprints as fp
from client import statements as st
from client.notices import (
    CannotOpen,
    Pin,
    PinSet,
    encode_content,
    merge,
    open_pin_blob,
    parse_cannot_open,
    parse_content,
    seal_pin_blob,
    sign_cannot_open,
    verify_cannot_open,
)
from tests.client._groups import CONV, identity, keys, lookup, signer
from tests.client._vectors import field, load

VECTORS = {v["type"]: v for v in load("notices.json")}


def test_cannot_open_vector():
    v = VECTORS["cannot-open"]
    u64 = lambda n: n.to_bytes(8, "big")  # noqa: E731
    data = (field(b"securechat/v2/cannot-open") + field(CONV) + field(u64(v["epoch"]))
            + field(bytes.fromhex(v["envelope_hash"])) + field(u64(v["creator_id"]))
            + field(u64(v["reporter_id"])) + field(u64(v["reporter_generation"]))
            + field(u64(v["client_clock_ms"])))
    assert data.hex() == v["statement"]
    notice = verify_cannot_open(data, bytes.fromhex(v["signature"]), lookup)
    assert notice.envelope_hash.hex() == v["envelope_hash"] and notice.creator_id == 1
    assert sign_cannot_open(signer("Bob"), notice) == (data, bytes.fromhex(v["signature"]))


def test_cannot_open_refusals():
    v = VECTORS["cannot-open"]
    data, sig = bytes.fromhex(v["statement"]), bytes.fromhex(v["signature"])
    with pytest.raises(errors.SignatureError):
        verify_cannot_open(data, sig[:-1] + b"\x00", lookup)
    with pytest.raises(errors.UnknownKeyError):
        verify_cannot_open(data, sig, lambda u, g: None)
    with pytest.raises(errors.StatementError):
        parse_cannot_open(data + b"\x00")
    with _clock.frozen(77):
        data2, _ = sign_cannot_open(signer("Bob"), CannotOpen(CONV, 1, bytes(32), 1, 2, 1))
    assert parse_cannot_open(data2).client_clock_ms == 77


def _pinset(version: int, **names) -> PinSet:
    return PinSet(1, version,
                  {keys(n).user_id: Pin(1, fp.of(keys(n)), v) for n, v in names.items()})


def test_pin_blob_vector():
    v = VECTORS["pins"]
    blob = bytes.fromhex(v["blob"])
    data, sig = bytes.fromhex(v["statement"]), bytes.fromhex(v["signature"])
    expected = (field(b"securechat/v2/pins") + field((1).to_bytes(8, "big"))
                + field((1).to_bytes(8, "big")) + field((7).to_bytes(8, "big"))
                + field(v["content"].encode()))
    assert data == expected
    assert agecrypt.decrypt(blob, [identity("Alice")]) == field(data) + field(sig)
    Ed25519PublicKey.from_public_bytes(keys("Alice").ed25519).verify(sig, data)
    pins = open_pin_blob(blob, [identity("Alice")], owner_id=1, key_lookup=lookup)
    assert pins == _pinset(7, Bob=True, Carol=False, Dave=False)
    carol = pins.contacts[3]
    expected = hashlib.sha256(keys("Carol").recipient.encode()).digest()
    assert carol.fingerprints.recipient_hash == expected
    assert encode_content(pins.contacts).decode() == v["content"]


def test_pin_blob_round_trip_and_rollback():
    pins = _pinset(9, Bob=True)
    blob = seal_pin_blob(signer("Alice"), keys("Alice"), pins)
    assert open_pin_blob(blob, [identity("Alice")], owner_id=1, key_lookup=lookup,
                         last_seen_version=9) == pins
    with pytest.raises(errors.PinRollbackError):
        open_pin_blob(blob, [identity("Alice")], owner_id=1, key_lookup=lookup,
                      last_seen_version=10)


def test_pin_blob_refusals():
    pins = _pinset(3, Bob=True)
    blob = seal_pin_blob(signer("Alice"), keys("Alice"), pins)
    with pytest.raises(errors.PinBlobError):
        open_pin_blob(blob, [identity("Bob")], owner_id=1, key_lookup=lookup)  # not Bob's
    with pytest.raises(errors.PinBlobError):
        open_pin_blob(blob, [identity("Alice")], owner_id=2, key_lookup=lookup)
    with pytest.raises(errors.UnknownKeyError):
        open_pin_blob(blob, [identity("Alice")], owner_id=1, key_lookup=lambda u, g: None)
    # Signed by someone else (the server re-encrypting its own content to Alice).
    data = st.split_fields(agecrypt.decrypt(blob, [identity("Alice")]))[0]
    from client import signing
    forged = agecrypt.encrypt(st.encode_fields([data, signing.sign(signer("Eve"), data)]),
                              [identity("Alice").recipient()])
    with pytest.raises(errors.SignatureError):
        open_pin_blob(forged, [identity("Alice")], owner_id=1, key_lookup=lookup)
    extra = agecrypt.encrypt(st.encode_fields([data, b"x" * 64, b""]),
                             [identity("Alice").recipient()])
    with pytest.raises(errors.PinBlobError):
        open_pin_blob(extra, [identity("Alice")], owner_id=1, key_lookup=lookup)
    with pytest.raises(errors.UsageError):
        seal_pin_blob(signer("Bob"), keys("Bob"), pins)  # Alice's pins


@pytest.mark.parametrize("text", [
    '{"contacts":[],"v":3}', '{"contacts":[], "v":2}', '{"v":2,"contacts":[]}', '[]',
    '{"contacts":[{"ed25519":"%s","generation":1,"recipient":"%s","user_id":2,"verified":1}],"v":2}',
    '{"contacts":[{"ed25519":"%s","generation":1,"recipient":"%s","user_id":2,"verified":true,'
    '"x":0}],"v":2}',
    '{"contacts":[{"ed25519":"%s","generation":1,"recipient":"%s","user_id":2,"verified":true},'
    '{"ed25519":"00","generation":1,"recipient":"00","user_id":1,"verified":true}],"v":2}',
])
def test_pin_content_must_be_canonical(text):
    if "%s" in text:
        text = text % ("ab" * 32, "cd" * 32)
    assert parse_content(b'{"contacts":[],"v":2}') == {}
    with pytest.raises(errors.PinBlobError):
        parse_content(text.encode())


def test_merge_vector():
    v = VECTORS["pins-merge"]
    local = PinSet(1, v["local_version"], parse_content(v["local"].encode()))
    remote = PinSet(1, v["remote_version"], parse_content(v["remote"].encode()))
    merged, conflicts = merge(local, remote)
    assert encode_content(merged.contacts).decode() == v["merged"]
    assert merged.version == v["merged_version"] == 9 and list(conflicts) == v["conflicts"] == []
    assert all(p.verified for u, p in merged.contacts.items() if u in (2, 3))  # both marks kept


def test_merge_newer_generation_wins_and_conflicts_are_reported():
    bob2 = Pin(2, fp.Fingerprints(bytes([1]) * 32, bytes([2]) * 32), False)
    other = Pin(1, fp.Fingerprints(bytes([3]) * 32, bytes([4]) * 32), True)
    local = PinSet(1, 4, {2: bob2, 3: other})
    remote = _pinset(5, Bob=True, Carol=True)
    merged, conflicts = merge(local, remote)
    assert merged.contacts[2] == bob2 and conflicts == (3,)
    assert merged.contacts[3] == Pin(1, fp.of(keys("Carol")), False)
    with pytest.raises(errors.UsageError):
        merge(local, PinSet(2, 1, {}))


def test_blob_is_deterministic_under_replay():
    v = VECTORS["pins"]
    from tests.vectors.generate import det_stream

    with age_rand.replay(det_stream("pins/blob")):
        blob = seal_pin_blob(signer("Alice"), keys("Alice"),
                             _pinset(7, Bob=True, Carol=False, Dave=False))
    assert blob.hex() == v["blob"]


def test_another_blob_under_a_seen_version_is_refused():
    first = seal_pin_blob(signer("Alice"), keys("Alice"), _pinset(9, Bob=True))
    other = seal_pin_blob(signer("Alice"), keys("Alice"), _pinset(9, Bob=False))
    args = dict(owner_id=1, key_lookup=lookup, last_seen_version=9)
    seen = open_pin_blob(first, [identity("Alice")], **args)
    assert len(seen.statement_hash) == 32
    again = open_pin_blob(first, [identity("Alice")], last_seen_hash=seen.statement_hash, **args)
    assert again == seen
    with pytest.raises(errors.PinRollbackError):
        open_pin_blob(other, [identity("Alice")], last_seen_hash=seen.statement_hash, **args)
