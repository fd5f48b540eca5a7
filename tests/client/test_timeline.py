"""client.timeline: receiver-side findings are returned (shown), never raised."""

from __future__ import annotations

import hashlib

import pytest

from client import errors
from client.messagebox import MessageContext, MessageStatement
from client.timeline import (
    MAX_CLOCK_SKEW_MS,
    Finding,
    Received,
    Timeline,
    Tombstone,
    check,
    describe,
)

CONV = bytes(16)
DEV_A, DEV_B = bytes([0xA]) * 16, bytes([0xB]) * 16
T0 = 1_795_000_000_000
NAMES = {1: "Alice", 2: "Bob"}


class Sender:
    """Makes a device's chain of statements (counter, prev hash) as a client would."""

    def __init__(self, sender_id: int, device: bytes) -> None:
        self.sender_id, self.device, self.counter, self.prev = sender_id, device, 0, bytes(32)

    def send(self, seq: int, *, seen: tuple[int, bytes] = (0, bytes(32)), clock=None,
             server_time=None, cmid=None, unsend=None, advance=True) -> Received:
        ctx = MessageContext(CONV, 1, bytes(32), self.sender_id, 1, self.device, self.counter)
        label = f"{self.sender_id}/{self.device.hex()}/{self.counter}"
        cmid = cmid or hashlib.sha256(label.encode()).digest()[:16]
        stmt = MessageStatement(ctx, cmid, "unsend" if unsend else "text", bytes(32), self.prev,
                                seen[0], seen[1], clock or T0 + seq)
        h = hashlib.sha256(repr(stmt).encode()).digest()
        if advance:
            self.counter, self.prev = self.counter + 1, h
        return Received(seq, server_time or T0 + seq, stmt, h, unsend)


def kinds(findings) -> list[tuple[str, int]]:
    return [(f.kind, f.seq) for f in findings]


def test_a_clean_conversation_has_no_findings():
    a, b = Sender(1, DEV_A), Sender(2, DEV_B)
    m1 = a.send(1)
    m2 = b.send(2, seen=(1, m1.message_hash))
    m3 = a.send(3, seen=(2, m2.message_hash))
    assert check([m1, m2, m3]) == []


def test_duplicates_are_hidden_and_a_reused_id_is_flagged():
    a = Sender(1, DEV_A)
    m1 = a.send(1)
    other = Sender(1, DEV_B).send(2, cmid=m1.statement.client_message_id)
    assert kinds(check([m1, m1])) == [("duplicate", 1)]
    assert kinds(check([m1, other])) == [("conflicting-duplicate", 2)]


def test_a_counter_gap_is_a_missing_message():
    a = Sender(1, DEV_A)
    m1 = a.send(1)
    a.send(2)  # withheld from this receiver
    m3 = a.send(3)
    findings = check([m1, m3])
    assert kinds(findings) == [("missing", 3)]
    assert describe(findings[0], NAMES.get) == "a message from Alice is missing"


def test_an_unknown_previous_hash_is_a_missing_message():
    a = Sender(1, DEV_A)
    a.send(1)  # never seen: the first message this receiver gets names it
    assert kinds(check([a.send(2)])) == [("missing", 2)]
    m1 = a.send(3)
    wrong = a.send(4, advance=False)
    forged = Received(4, wrong.server_time_ms, MessageStatement(
        **{**wrong.statement.__dict__, "prev_hash": bytes([9]) * 32}), wrong.message_hash)
    t = Timeline()
    t.seed_device(1, DEV_A, m1.statement.context.device_counter - 1, m1.statement.prev_hash)
    assert t.add(m1) == []
    assert kinds(t.add(forged)) == [("missing", 4)]


def test_a_replayed_counter_is_reordered():
    a = Sender(1, DEV_A)
    m1, m2 = a.send(1), a.send(2)
    again = Received(3, T0 + 3, MessageStatement(**{**m1.statement.__dict__,
                                                   "client_message_id": bytes(16)}),
                     hashlib.sha256(b"x").digest())
    assert kinds(check([m1, m2, again])) == [("reordered", 3)]


def test_seen_that_disagrees_is_a_forked_history():
    a, b = Sender(1, DEV_A), Sender(2, DEV_B)
    m1 = a.send(1)
    forked = b.send(2, seen=(1, hashlib.sha256(b"another message").digest()))
    findings = check([m1, forked])
    assert kinds(findings) == [("history-differs", 2)]
    assert describe(findings[0], NAMES.get) == "your history differs from Bob's"
    # Bob had seen a seq this receiver never got (the server withheld it from us).
    m3 = a.send(3)
    b2 = Sender(2, DEV_B)
    assert kinds(check([m1, m3, b2.send(4, seen=(2, bytes([5]) * 32))])) == [
        ("history-differs", 4)]
    # A seen at or after the message's own seq cannot be.
    assert kinds(check([Sender(2, DEV_B).send(5, seen=(5, bytes([1]) * 32))])) == [
        ("history-differs", 5)]


def test_seen_may_name_membership_operations_noted_by_the_caller():
    t = Timeline()
    op_hash = hashlib.sha256(b"membership op").digest()
    t.note(1, op_hash)
    assert t.add(Sender(2, DEV_B).send(2, seen=(1, op_hash))) == []


def test_clock_skew_beyond_ten_minutes_is_flagged():
    a = Sender(1, DEV_A)
    ok = a.send(1, server_time=T0 + 1 + MAX_CLOCK_SKEW_MS)
    skewed = a.send(2, server_time=T0 + 2 + MAX_CLOCK_SKEW_MS + 1)
    assert kinds(check([ok, skewed])) == [("clock-skew", 2)]


def test_tombstones_need_a_signed_unsend_or_expiry():
    a = Sender(1, DEV_A)
    m1, m2 = a.send(1), a.send(2)
    unsend = a.send(4, unsend=m1.message_hash)
    t = Timeline()
    for item in [m1, m2, Tombstone(1, T0 + 1, 1), Tombstone(2, T0 + 2, 1), unsend]:
        t.add(item)
    findings = t.unexplained_tombstones(now_ms=T0 + 10)
    assert kinds(findings) == [("removed-by-server", 2)]
    assert describe(findings[0], NAMES.get) == "a message from Alice was removed by the server"
    assert t.unexplained_tombstones(expiry_seconds=1, now_ms=T0 + 5000) == []
    assert kinds(t.unexplained_tombstones(expiry_seconds=3600, now_ms=T0 + 5000)) == [
        ("removed-by-server", 2)]


def test_a_tombstone_this_receiver_never_saw_needs_an_unsend_of_an_unknown_message():
    a = Sender(1, DEV_A)
    a.send(1)
    unsend = a.send(3, unsend=hashlib.sha256(b"never seen here").digest())
    findings = check([Tombstone(1, T0, 1), Tombstone(2, T0, 1), unsend], now_ms=T0)
    # The unsend's previous message is the tombstoned one, which this receiver never had.
    assert findings == [Finding("missing", 3, 1, "unknown previous message"),
                        Finding("removed-by-server", 2, 1)]


def test_a_tombstone_with_its_statement_continues_the_device_chain():
    """The server keeps a removed message's signed statement: a receiver that syncs after
    the removal follows the device chain through it, and the unsend names a known hash."""
    a = Sender(1, DEV_A)
    m1, gone = a.send(1), a.send(2)
    unsend = a.send(3, unsend=gone.message_hash)
    kept = Tombstone(2, T0 + 2, 1, gone.statement, gone.message_hash)
    assert check([m1, kept, unsend], now_ms=T0 + 10) == []
    # Control: without the statement the same history has a hole before the unsend.
    bare = Tombstone(2, T0 + 2, 1)
    assert kinds(check([m1, bare, unsend], now_ms=T0 + 10)) == [("missing", 3)]
    # A tombstone still counts in the chain: a gap before it is found.
    b = Sender(1, DEV_B)
    first, _skipped, removed = b.send(1), b.send(2), b.send(3)
    assert kinds(check([first, Tombstone(3, T0 + 3, 1, removed.statement,
                                         removed.message_hash)], now_ms=T0)) == [
        ("missing", 3), ("removed-by-server", 3)]


@pytest.mark.parametrize("bad", [
    "not an item", Tombstone(-1, 0, 1), Tombstone(1, 0, True),
    Tombstone(1, 0, 1, Sender(1, DEV_A).send(1).statement, None),
    Tombstone(1, 0, 2, Sender(1, DEV_A).send(1).statement, bytes(32)),
    Received(1, 0, "statement", bytes(32)),
    Received(1, 0, Sender(1, DEV_A).send(1).statement, b"short"),
])
def test_malformed_input_raises(bad):
    with pytest.raises(errors.UsageError):
        Timeline().add(bad)
