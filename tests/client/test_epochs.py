"""client.epochs: envelopes, the signed epoch statement, verification, equivocation, due."""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import agecrypt
from agecrypt import _rand as age_rand
from client import _rand, errors, signing
from client import fingerprints as fp
from client.endorsement import Endorsed
from client.epochs import (
    EpochRegistry,
    MemberEntry,
    build_epoch,
    decode_members,
    encode_members,
    encode_plaintext,
    epoch_due,
    open_epoch,
    parse_epoch_statement,
    parse_plaintext,
)
from client.membership import MembershipChain
from tests.client._groups import CONV, OPS, USERS, identity, keys, lookup, name_of, signer
from tests.client._vectors import field, load

VECTORS = load("epoch.json")
GOOD = [v for v in VECTORS if "error" not in v]
BAD = [v for v in VECTORS if "error" in v]
CODES = {cls.code: cls for cls in (getattr(errors, n) for n in errors.__all__)}


def _chain(n: int) -> MembershipChain:
    return MembershipChain.replay(OPS[:n], lookup)


def _open(entry: dict, reader: str, *, envelope=None, chain=None, key_lookup=lookup):
    return open_epoch(
        bytes.fromhex(envelope or entry["envelope"]), bytes.fromhex(entry["statement"]),
        bytes.fromhex(entry["signature"]), me=keys(reader), identity=identity(reader),
        chain=chain or _chain(entry["chain_length"]), key_lookup=key_lookup)


def _members_of(entry: dict) -> list[str]:
    stmt = parse_epoch_statement(bytes.fromhex(entry["statement"]))
    return [name_of(e.user_id) for e in stmt.members]


@pytest.mark.parametrize("entry", GOOD, ids=lambda e: f"epoch{e['epoch']}")
def test_every_member_opens_the_vector(entry):
    for reader in _members_of(entry):
        opened = _open(entry, reader)
        assert opened.secret.hex() == entry["secret"] and opened.name == entry["name"]
        envelope_hash = bytes.fromhex(entry["envelope_hash"])
        assert opened.statement.name == (CONV, entry["epoch"], envelope_hash)


@pytest.mark.parametrize("entry", GOOD, ids=lambda e: f"epoch{e['epoch']}")
def test_vector_against_an_independent_encoding(entry):
    envelope = bytes.fromhex(entry["envelope"])
    assert hashlib.sha256(envelope).hexdigest() == entry["envelope_hash"]
    members = b""
    for name in _members_of(entry):
        u = USERS[name]
        members += (u["user_id"].to_bytes(8, "big") + (1).to_bytes(8, "big")
                    + hashlib.sha256(u["recipient"].encode()).digest()
                    + hashlib.sha256(bytes.fromhex(u["ed25519"])).digest())
    assert members.hex() == entry["members_bytes"]
    data = (field(b"securechat/v2/epoch") + field(CONV) + field(entry["epoch"].to_bytes(8, "big"))
            + field(bytes.fromhex(entry["prev_envelope_hash"]))
            + field(bytes.fromhex(entry["chain_head"])) + field(members)
            + field(entry["creator_id"].to_bytes(8, "big")) + field((1).to_bytes(8, "big"))
            + field(hashlib.sha256(envelope).digest()))
    assert data.hex() == entry["statement"]
    creator = USERS[name_of(entry["creator_id"])]
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(creator["ed25519"])).verify(
        bytes.fromhex(entry["signature"]), data)
    secret = base64.urlsafe_b64encode(bytes.fromhex(entry["secret"])).rstrip(b"=").decode()
    assert entry["plaintext"] == (
        f'{{"conversation":"{CONV.hex()}","epoch":{entry["epoch"]},"name":"{entry["name"]}",'
        f'"secret":"{secret}","v":2}}')
    for name in _members_of(entry):  # opens with the plain age decrypt, one stanza each
        assert agecrypt.decrypt(envelope, [identity(name)]).decode() == entry["plaintext"]
    assert len(agecrypt.inspect(io.BytesIO(envelope)).stanza_types) == entry["stanzas"]


def test_the_second_epoch_chains_to_the_first():
    assert GOOD[1]["prev_envelope_hash"] == GOOD[0]["envelope_hash"]


def test_build_reproduces_the_vector_with_replayed_randomness():
    from tests.vectors.generate import det_stream

    e = GOOD[0]
    with _rand.replay(det_stream("epoch/1/secret")), age_rand.replay(det_stream("epoch/1")):
        envelope, data, sig, secret = build_epoch(
            signer("Alice"), keys("Alice"), conversation_id=CONV, epoch=1,
            prev_envelope_hash=bytes(32), chain_head=_chain(3).state.head,
            members=[keys("Carol"), keys("Alice"), keys("Bob")], name="Book club")
    assert (envelope.hex(), data.hex(), sig.hex(), secret.hex()) == (
        e["envelope"], e["statement"], e["signature"], e["secret"])


@pytest.mark.parametrize("entry", BAD, ids=lambda e: e["why"])
def test_negative_vectors(entry):
    with pytest.raises(CODES[entry["error"]]) as info:
        _open(entry, name_of(entry["reader"]))
    assert info.value.code == entry["error"]


def test_a_non_member_reader_and_an_unverified_head_are_refused():
    with pytest.raises(errors.NotMyKey):
        _open(GOOD[0], "Dave", chain=_chain(3))  # Dave is not listed
    with pytest.raises(errors.EpochError):
        _open(GOOD[1], "Alice", chain=_chain(3))  # head of operation 7 not verified here


def test_creator_key_must_be_accepted():
    with pytest.raises(errors.UnknownKeyError):
        _open(GOOD[0], "Bob", key_lookup=lambda u, g: None if u == 1 else lookup(u, g))


def test_a_newer_generation_needs_an_accepted_key():
    carol2 = agecrypt.X25519Identity.from_seed(bytes(range(32)))
    key2 = signing.signing_key_from_seed(bytes(32))
    c2 = Endorsed(3, 2, str(carol2.recipient()), signing.public_key_bytes(key2))
    members = [keys("Alice"), keys("Bob"), c2]
    envelope, data, sig, _ = build_epoch(
        signer("Alice"), keys("Alice"), conversation_id=CONV, epoch=5,
        prev_envelope_hash=bytes(32), chain_head=_chain(3).state.head, members=members, name="")
    args = dict(me=keys("Bob"), identity=identity("Bob"), chain=_chain(3))
    with pytest.raises(errors.UnknownKeyError):
        open_epoch(envelope, data, sig, key_lookup=lookup, **args)
    accepts = lambda u, g: c2 if (u, g) == (3, 2) else lookup(u, g)  # noqa: E731
    assert open_epoch(envelope, data, sig, key_lookup=accepts, **args).name == ""
    opened = open_epoch(envelope, data, sig, key_lookup=accepts, me=c2, identity=carol2,
                        chain=_chain(3))
    assert opened.statement.entry(3).generation == 2


def test_hybrid_envelope_round_trip():
    ids = {n: agecrypt.HybridIdentity.from_seed(hashlib.sha256(n.encode()).digest())
           for n in ("Alice", "Bob")}
    hk = {n: Endorsed(keys(n).user_id, 1, str(ids[n].recipient()), keys(n).ed25519)
          for n in ids}
    ops = MembershipChain.replay(OPS[:2], lambda u, g: lookup(u, g))
    envelope, data, sig, secret = build_epoch(
        signer("Alice"), hk["Alice"], conversation_id=CONV, epoch=1,
        prev_envelope_hash=bytes(32), chain_head=ops.state.head, members=list(hk.values()),
        name="pq")
    assert agecrypt.inspect(io.BytesIO(envelope)).stanza_types == ("mlkem768x25519",) * 2
    # The chain vouched for Bob's X25519 keys: the hybrid list differs, and is refused.
    with pytest.raises(errors.PinMismatchError):
        open_epoch(envelope, data, sig, me=hk["Bob"], identity=ids["Bob"], chain=ops,
                   key_lookup=lookup)


def test_registry_names_epochs_and_detects_equivocation():
    reg = EpochRegistry()
    h1, h2 = bytes([1]) * 32, bytes([2]) * 32
    reg.record(CONV, 1, h1)
    reg.record(CONV, 1, h1)  # the same epoch again is fine
    reg.record(CONV, 2, h2)
    assert reg.latest(CONV) == (2, h2) and reg.hash_of(CONV, 1) == h1
    assert not reg.sending_blocked(CONV)
    with pytest.raises(errors.EquivocationDetected) as info:
        reg.record(CONV, 1, h2)
    assert (info.value.epoch, info.value.first, info.value.second) == (1, h1, h2)
    assert reg.sending_blocked(CONV) and reg.hash_of(CONV, 1) == h1
    assert reg.latest(bytes(16)) is None


def test_epoch_due_from_verified_state():
    stmt = parse_epoch_statement(bytes.fromhex(GOOD[0]["statement"]))
    assert epoch_due(None, _chain(3).state, {}) == "no-epoch"
    assert epoch_due(stmt, _chain(3).state, {}) is None
    assert epoch_due(stmt, _chain(3).state, {3: 1}) is None
    assert epoch_due(stmt, _chain(3).state, {3: 2}) == "key-generation"
    assert epoch_due(stmt, _chain(4).state, {}) == "chain-head"


def test_members_encoding_is_strict():
    one = MemberEntry(1, 1, fp.of(keys("Alice")))
    two = MemberEntry(2, 1, fp.of(keys("Bob")))
    raw = encode_members([one, two])
    assert decode_members(raw) == (one, two)
    for bad in (b"", raw[:-1], raw[80:] + raw[:80], raw[:80] * 2):
        with pytest.raises(errors.StatementError):
            decode_members(bad)
    for bad in ([], [two, one], [one, one]):
        with pytest.raises(errors.UsageError):
            encode_members(bad)


@pytest.mark.parametrize("text", [
    '{"conversation":"%s","epoch":1,"name":"x","secret":"%s","v":2} ',
    '{"epoch":1,"conversation":"%s","name":"x","secret":"%s","v":2}',
    '{"conversation":"%s","epoch":1,"name":"x","secret":"%s","v":3}',
    '{"conversation":"%s","epoch":1,"name":"x","secret":"%s=","v":2}',
    '{"conversation":"%s","epoch":true,"name":"x","secret":"%s","v":2}',
    '{"conversation":"%s","epoch":1,"name":"x","secret":"%s","v":2,"w":0}',
    '{"conversation":"%s", "epoch":1,"name":"x","secret":"%s","v":2}',
])
def test_plaintext_must_be_canonical(text):
    secret = base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode()
    good = encode_plaintext(CONV, 1, bytes(32), "x")
    assert parse_plaintext(good) == (CONV, 1, bytes(32), "x")
    with pytest.raises(errors.EpochError):
        parse_plaintext((text % (CONV.hex(), secret)).encode())


def test_an_epoch_must_follow_the_previous_one():
    first = parse_epoch_statement(bytes.fromhex(GOOD[0]["statement"]))
    second = parse_epoch_statement(bytes.fromhex(GOOD[1]["statement"]))
    assert _open(GOOD[1], "Bob", chain=_chain(8)).statement == second
    opened = open_epoch(
        bytes.fromhex(GOOD[1]["envelope"]), bytes.fromhex(GOOD[1]["statement"]),
        bytes.fromhex(GOOD[1]["signature"]), me=keys("Bob"), identity=identity("Bob"),
        chain=_chain(8), key_lookup=lookup, previous=first)
    assert opened.statement == second
    for previous in (second, replace(first, envelope_hash=bytes(32))):
        with pytest.raises(errors.EpochError):
            open_epoch(
                bytes.fromhex(GOOD[1]["envelope"]), bytes.fromhex(GOOD[1]["statement"]),
                bytes.fromhex(GOOD[1]["signature"]), me=keys("Bob"), identity=identity("Bob"),
                chain=_chain(8), key_lookup=lookup, previous=previous)


def test_removals_the_server_announced_are_accepted_on_its_word():
    """Dave's account deleted (no signed operation): an epoch without him is valid."""
    chain = _chain(7)  # Alice, Bob, Carol, Dave
    envelope, data, sig, _ = build_epoch(
        signer("Alice"), keys("Alice"), conversation_id=CONV, epoch=3,
        prev_envelope_hash=bytes(32), chain_head=chain.state.head,
        members=[keys("Alice"), keys("Bob"), keys("Carol")], name="n")
    args = dict(me=keys("Bob"), identity=identity("Bob"), chain=chain, key_lookup=lookup)
    with pytest.raises(errors.EpochError):
        open_epoch(envelope, data, sig, **args)
    assert open_epoch(envelope, data, sig, departed={4}, **args).name == "n"
    with pytest.raises(errors.EpochError):  # a departed creator
        open_epoch(envelope, data, sig, departed={1, 4}, **args)
    stmt = parse_epoch_statement(data)
    assert epoch_due(stmt, chain.state, {}, departed={4}) is None
    assert epoch_due(stmt, chain.state, {}, departed={3, 4}) == "members"


def test_a_wrong_key_consistently_vouched_and_listed_is_caught_by_pins():
    """The server handed Alice Eve's key as Carol's; Alice adds "Carol" with it and makes an
    epoch to it. The chain and the list agree, so only pins catch it: Bob, who pinned
    Carol, refuses (pin_mismatch); Carol finds her entry is not hers (not_my_key)."""
    from tests.client.test_membership import _wrong_key_chain

    chain = MembershipChain.replay(_wrong_key_chain(), lambda u, g: lookup(u, g))
    fake_carol = Endorsed(3, 1, keys("Eve").recipient, keys("Eve").ed25519)
    envelope, data, sig, _ = build_epoch(
        signer("Alice"), keys("Alice"), conversation_id=CONV, epoch=1,
        prev_envelope_hash=bytes(32), chain_head=chain.state.head,
        members=[keys("Alice"), keys("Bob"), fake_carol], name="n")
    with pytest.raises(errors.PinMismatchError):
        open_epoch(envelope, data, sig, me=keys("Bob"), identity=identity("Bob"), chain=chain,
                   key_lookup=lookup)
    with pytest.raises(errors.NotMyKey):
        open_epoch(envelope, data, sig, me=keys("Carol"), identity=identity("Carol"),
                   chain=chain, key_lookup=lookup)
    no_pin = lambda u, g: fake_carol if (u, g) == (3, 1) else lookup(u, g)  # noqa: E731
    opened = open_epoch(envelope, data, sig, me=keys("Bob"), identity=identity("Bob"),
                        chain=chain, key_lookup=no_pin)  # a client that accepted the vouch
    assert opened.name == "n"


def test_envelope_size_limit():
    from client.epochs import max_envelope_size

    assert max_envelope_size(3) == 3 * 1600 + 4096
    head = _chain(3).state.head
    members = [keys("Alice"), keys("Bob"), keys("Carol")]
    with pytest.raises(errors.UsageError):
        build_epoch(signer("Alice"), keys("Alice"), conversation_id=CONV, epoch=1,
                    prev_envelope_hash=bytes(32), chain_head=head, members=members,
                    name="x" * 9000)
    # One signed by a client without the limit is refused by the reader.
    big = "x" * 9000
    plain = encode_plaintext(CONV, 1, bytes(32), big)
    envelope = agecrypt.encrypt(plain, [identity(n).recipient() for n in ("Alice", "Bob", "Carol")])
    from client.epochs import EpochStatement

    stmt = EpochStatement(CONV, 1, bytes(32), head, tuple(MemberEntry.of(k) for k in members),
                          1, 1, hashlib.sha256(envelope).digest()).to_bytes()
    with pytest.raises(errors.EpochError, match="size limit"):
        open_epoch(envelope, stmt, signing.sign(signer("Alice"), stmt), me=keys("Bob"),
                   identity=identity("Bob"), chain=_chain(3), key_lookup=lookup)
