"""client.membership: signed membership operations and the chain verifier."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from client import _clock, errors
from client import fingerprints as fp
from client.membership import (
    MembershipChain,
    Operation,
    describe,
    expiry_argument,
    operation_hash,
    parse_operation,
    sign_operation,
)
from tests.client._groups import CHAIN, CONV, MEMBERSHIP, OPS, keys, lookup, name_of, signer
from tests.client._vectors import field

NEGATIVES = [v for v in MEMBERSHIP if "error" in v]
CODES = {cls.code: cls for cls in (getattr(errors, n) for n in errors.__all__)}


def _replay(ops, max_members=100):
    return MembershipChain.replay(ops, lookup, max_members)


def test_the_vector_chain_replays_to_its_final_state():
    chain = _replay(OPS)
    final = MEMBERSHIP[1]["final_state"]
    state = chain.state
    assert state.index == final["index"] == len(OPS) - 1
    assert state.head.hex() == final["head"] == CHAIN[-1]["operation_hash"]
    assert sorted(state.admins) == final["admins"] == [1]
    assert sorted(state.members) == [m["user_id"] for m in final["members"]] == [1, 2]
    assert state.expiry_seconds == 86400 and state.renames == 1
    assert chain.lines(name_of) == [o["line"] for o in CHAIN]


@pytest.mark.parametrize("i", range(len(CHAIN)))
def test_each_operation_against_an_independent_encoding(i):
    o = CHAIN[i]
    f = o["fields"]
    u64 = lambda n: n.to_bytes(8, "big")  # noqa: E731
    data = (field(b"securechat/v2/membership") + field(bytes.fromhex(f["conversation_id"]))
            + field(u64(f["index"])) + field(bytes.fromhex(f["prev_hash"]))
            + field(u64(f["actor_id"])) + field(u64(f["actor_generation"]))
            + field(f["kind"].encode()) + field(u64(f["target_id"]))
            + field(u64(f["target_generation"])) + field(bytes.fromhex(f["target_recipient_hash"]))
            + field(bytes.fromhex(f["target_ed25519_hash"])) + field(bytes.fromhex(f["argument"]))
            + field(u64(f["client_clock_ms"])))
    assert data.hex() == o["statement"]
    assert hashlib.sha256(data).hexdigest() == o["operation_hash"]
    prev = CHAIN[i - 1]["operation_hash"] if i else "00" * 32
    assert f["prev_hash"] == prev
    actor = Ed25519PublicKey.from_public_bytes(lookup(f["actor_id"], 1).ed25519)
    actor.verify(bytes.fromhex(o["signature"]), data)


@pytest.mark.parametrize("i", range(len(CHAIN)))
def test_signing_reproduces_each_vector(i):
    op = parse_operation(OPS[i][0])
    data, sig = sign_operation(signer(name_of(op.actor_id)), op)
    assert (data, sig) == OPS[i]


def test_every_intermediate_state_is_kept_by_its_head():
    chain = _replay(OPS)
    for o, expected in zip(CHAIN, MEMBERSHIP[1]["states"], strict=True):
        state = chain.state_at(bytes.fromhex(o["operation_hash"]))
        assert state.index == expected["index"]
        assert sorted(state.members) == [m["user_id"] for m in expected["members"]]
        assert sorted(state.admins) == expected["admins"]
    assert chain.state_at(bytes(32)) is None


@pytest.mark.parametrize("entry", NEGATIVES, ids=lambda e: e["why"])
def test_negative_vectors_are_refused_with_their_code(entry):
    ops = [(bytes.fromhex(d), bytes.fromhex(s)) for d, s in entry["operations"]]
    with pytest.raises(CODES[entry["error"]]) as info:
        _replay(ops, entry["max_members"])
    assert info.value.code == entry["error"]


def test_a_fork_carries_both_operations():
    other = Operation(CONV, 4, operation_hash(OPS[3][0]), 1, 1, "rename", client_clock_ms=9)
    forked = sign_operation(signer("Alice"), other)
    chain = _replay(OPS)
    with pytest.raises(errors.ForkDetected) as info:
        chain.append(*forked)
    assert info.value.index == 4
    assert info.value.first == OPS[4] and info.value.second == forked
    assert chain.state.index == len(OPS) - 1  # nothing changed


def test_a_forged_fork_is_a_bad_signature_not_a_fork():
    other = Operation(CONV, 4, operation_hash(OPS[3][0]), 1, 1, "rename", client_clock_ms=9)
    data, _ = sign_operation(signer("Alice"), other)
    with pytest.raises(errors.SignatureError):
        _replay(OPS).append(data, sign_operation(signer("Bob"), other)[1])


def test_a_refused_operation_changes_nothing():
    chain = _replay(OPS[:3])
    head = chain.state.head
    with pytest.raises(errors.ChainOrderError):
        chain.append(*OPS[4])
    assert chain.state.head == head and len(chain.operations) == 3
    chain.append(*OPS[3])  # the right next one still goes on
    assert chain.state.index == 3


def test_removed_member_can_do_nothing_and_a_member_who_left_neither():
    chain = _replay(OPS)  # Carol removed (7), Dave left (8)
    head = chain.state.head
    for actor, user_id in [("Carol", 3), ("Dave", 4)]:
        op = Operation(CONV, 10, head, user_id, 1, "leave", client_clock_ms=1)
        with pytest.raises(errors.NotAuthorizedError):
            chain.append(*sign_operation(signer(actor), op))


def test_vouched_for_is_the_adders_pin():
    chain = _replay(OPS[:3])
    prints, generation, adder = chain.vouched(3)
    assert prints == fp.of(keys("Carol")) and generation == 1 and adder == 1
    assert chain.vouched(66) is None
    assert _replay(OPS).vouched(4) is None  # Dave left


def test_member_limit_is_a_parameter():
    _replay(OPS[:3], max_members=3)
    with pytest.raises(errors.MemberLimitError):
        _replay(OPS[:3], max_members=2)


def test_an_unknown_actor_key_is_refused():
    with pytest.raises(errors.UnknownKeyError):
        MembershipChain.replay(OPS, lambda u, g: None)


def test_key_lookup_returning_other_keys_is_a_usage_error():
    with pytest.raises(errors.UsageError):
        MembershipChain.replay(OPS, lambda u, g: keys("Eve"))


@pytest.mark.parametrize("over", [
    {"kind": "add", "target_id": 0},
    {"kind": "leave", "target_id": 3},
    {"kind": "remove", "target_generation": 1},
    {"kind": "set-expiry", "argument": b"\x00" * 7},
    {"kind": "create"},  # create only at index 0
    {"kind": "nonsense"},
])
def test_sign_operation_refuses_a_wrong_shape(over):
    op = replace(parse_operation(OPS[3][0]), **over)
    with pytest.raises(errors.MembershipError):
        sign_operation(signer("Alice"), op)


def test_clock_comes_from_the_seam_and_lines_cover_every_kind():
    with _clock.frozen(1234):
        data, _ = sign_operation(signer("Alice"), Operation(CONV, 5, bytes(32), 1, 1, "rename"))
    assert parse_operation(data).client_clock_ms == 1234
    off = Operation(CONV, 5, bytes(32), 1, 1, "set-expiry", argument=expiry_argument(0))
    assert describe(off, name_of) == "Alice turned off disappearing messages"
    with pytest.raises(errors.UsageError):
        _ = parse_operation(OPS[0][0]).expiry_seconds


def test_empty_chain_has_no_state():
    with pytest.raises(errors.UsageError):
        _ = MembershipChain(lookup).state


def test_states_are_read_only():
    state = _replay(OPS[:3]).state
    with pytest.raises(TypeError):
        state.members[66] = state.members[1]


def _wrong_key_chain():
    """Alice adds Carol (id 3) with Eve's keys: the key the server handed her for Carol."""
    eve = fp.of(keys("Eve"))
    op = Operation(CONV, 2, operation_hash(OPS[1][0]), 1, 1, "add", 3, 1, eve.recipient_hash,
                   eve.ed25519_hash, client_clock_ms=5)
    return [*OPS[:2], sign_operation(signer("Alice"), op)]


def test_a_wrong_key_vouched_for_by_the_adder_is_disputed():
    """When the server hands Alice a wrong key for Carol, Carol's client (and any member
    that pinned Carol) alerts; a client with no pin of its own cannot tell."""
    chain = _replay(_wrong_key_chain())
    assert chain.state.disputed(lookup) == (3,)  # Carol (her own keys), or Bob's pin of Carol
    no_pin = lambda u, g: None if u == 3 else lookup(u, g)  # noqa: E731
    assert chain.state.disputed(no_pin) == ()
    assert _replay(OPS[:3]).state.disputed(lookup) == ()
