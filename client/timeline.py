"""Receiver-side checks of a conversation's timeline (DESIGN.md §3 "Messages"; protocol.md §19).

Input: messages whose box opened and whose statement verified (the caller
did that, in its own context), tombstones, and the hashes of the other items
that take seqs (membership operations, epoch announcements) via
:meth:`Timeline.note`. Output: typed :class:`Finding` s to show — never
exceptions, since a lying server is shown, not fatal. Only malformed input
raises (:class:`UsageError`).

- dedupe by (sender, client message id): ``duplicate`` (same message again,
  hidden) or ``conflicting-duplicate`` (another message under a used id);
- per (sender, device): a counter gap or an unknown previous hash is
  ``missing`` ("a message from X is missing"); a counter that goes back is
  ``reordered``;
- ``seen`` = (seq, hash) disagreeing with the receiver's own record is
  ``history-differs`` ("your history differs from X's");
- a server time more than 10 minutes from the signed clock is ``clock-skew``;
- a tombstone with no signed unsend (or covering expiry) is
  ``removed-by-server`` (:meth:`Timeline.unexplained_tombstones`, after sync).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from . import _clock
from .errors import UsageError
from .messagebox import ZERO_HASH, MessageStatement

__all__ = [
    "MAX_CLOCK_SKEW_MS",
    "Finding",
    "Received",
    "Timeline",
    "Tombstone",
    "check",
    "describe",
]

MAX_CLOCK_SKEW_MS = 10 * 60 * 1000


@dataclass(frozen=True)
class Received:
    """A verified message at ``seq``. ``unsend_target`` is the target hash of an unsend
    (read from its opened plaintext), else ``None``."""

    seq: int
    server_time_ms: int
    statement: MessageStatement
    message_hash: bytes
    unsend_target: bytes | None = None

    @property
    def sender_id(self) -> int:
        return self.statement.context.sender_id


@dataclass(frozen=True)
class Tombstone:
    """A removed message. The server keeps its signed statement (only the box goes):
    given here, verified by the caller, it continues its device's chain, so the sender's
    next message does not look like one after a gap."""

    seq: int
    server_time_ms: int
    sender_id: int
    statement: MessageStatement | None = None
    message_hash: bytes | None = None


@dataclass(frozen=True)
class Finding:
    kind: str
    seq: int
    sender_id: int
    detail: str = ""


def _check_input(item: Received | Tombstone) -> None:
    if isinstance(item, Received):
        if not isinstance(item.statement, MessageStatement):
            raise UsageError("a received message carries its verified statement")
        for h in (item.message_hash, item.unsend_target or ZERO_HASH):
            if not isinstance(h, bytes) or len(h) != 32:
                raise UsageError("message hashes are 32 bytes")
    elif not isinstance(item, Tombstone):
        raise UsageError("a timeline item is Received or Tombstone")
    elif (item.statement is None) != (item.message_hash is None) or (
            item.statement is not None and (
                not isinstance(item.statement, MessageStatement)
                or not isinstance(item.message_hash, bytes) or len(item.message_hash) != 32
                or item.statement.context.sender_id != item.sender_id)):
        raise UsageError("a tombstone carries its sender's statement and hash, or neither")
    ints = [item.seq, item.server_time_ms, item.sender_id]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in ints):
        raise UsageError("seq, server time and sender id are non-negative ints")


@dataclass
class Timeline:
    """One conversation's timeline as this receiver has it."""

    _hashes: dict[int, bytes] = field(default_factory=dict)  # seq -> hash, this receiver's record
    _known: set[bytes] = field(default_factory=set)  # the same hashes, for lookups by hash
    _ids: dict[tuple[int, bytes], bytes] = field(default_factory=dict)
    _devices: dict[tuple[int, bytes], tuple[int, bytes]] = field(default_factory=dict)
    _unsends: dict[int, set[bytes]] = field(default_factory=dict)
    _tombstones: list[Tombstone] = field(default_factory=list)

    def note(self, seq: int, item_hash: bytes) -> None:
        """Record another seq-taking item (membership operation, epoch) by its hash."""
        self._hashes[seq] = bytes(item_hash)
        self._known.add(bytes(item_hash))

    def seed_device(self, sender_id: int, device_id: bytes, counter: int, message_hash: bytes):
        """Start a device's chain at a message known from before (history loaded earlier)."""
        self._devices[(sender_id, bytes(device_id))] = (counter, bytes(message_hash))

    def add(self, item: Received | Tombstone) -> list[Finding]:
        """Take the next item in seq order; return what to show about it."""
        _check_input(item)
        if isinstance(item, Tombstone):
            self._tombstones.append(item)
            if item.statement is None:
                return []
            self._ids.setdefault((item.sender_id, item.statement.client_message_id),
                                 item.message_hash)
            findings = self._device_findings(item)
            self._hashes.setdefault(item.seq, item.message_hash)
            self._known.add(item.message_hash)
            return findings
        s, sender = item.statement, item.sender_id
        earlier = self._ids.get((sender, s.client_message_id))
        if earlier is not None:
            kind = "duplicate" if earlier == item.message_hash else "conflicting-duplicate"
            return [Finding(kind, item.seq, sender)]
        self._ids[(sender, s.client_message_id)] = item.message_hash
        findings = self._device_findings(item) + self._seen_findings(item)
        if abs(item.server_time_ms - s.client_clock_ms) > MAX_CLOCK_SKEW_MS:
            findings.append(Finding("clock-skew", item.seq, sender))
        if self._hashes.setdefault(item.seq, item.message_hash) != item.message_hash:
            findings.append(Finding("history-differs", item.seq, sender, "two items at one seq"))
        self._known.add(item.message_hash)
        if item.unsend_target is not None:
            self._unsends.setdefault(sender, set()).add(item.unsend_target)
        return findings

    def _device_findings(self, item: Received | Tombstone) -> list[Finding]:
        s, sender = item.statement, item.sender_id
        key = (sender, s.context.device_id)
        last = self._devices.get(key)
        counter = s.context.device_counter
        out = []
        if last is None:
            if s.prev_hash != ZERO_HASH and s.prev_hash not in self._known:
                out.append(Finding("missing", item.seq, sender, "unknown previous message"))
        elif counter <= last[0]:
            out.append(Finding("reordered", item.seq, sender))
        elif counter > last[0] + 1:
            out.append(Finding("missing", item.seq, sender, f"{counter - last[0] - 1} missing"))
        elif s.prev_hash != last[1]:
            out.append(Finding("missing", item.seq, sender, "unknown previous message"))
        if last is None or counter > last[0]:
            self._devices[key] = (counter, item.message_hash)
        return out

    def _seen_findings(self, item: Received) -> list[Finding]:
        s = item.statement
        if s.seen_seq == 0 and s.seen_hash == ZERO_HASH:
            return []
        differs = s.seen_seq >= item.seq or s.seen_seq == 0
        own = self._hashes.get(s.seen_seq)
        if own is not None:
            differs = differs or own != s.seen_hash
        elif self._hashes and min(self._hashes) <= s.seen_seq <= max(self._hashes):
            differs = True  # the sender had an item at a seq this receiver never got
        return [Finding("history-differs", item.seq, item.sender_id)] if differs else []

    def unexplained_tombstones(
        self, *, expiry_seconds: int = 0, now_ms: int | None = None
    ) -> list[Finding]:
        """``removed-by-server`` for each tombstone that neither a signed unsend by its sender
        nor the conversation's expiry explains. Call after sync (an unsend comes later)."""
        now = _clock._now_ms() if now_ms is None else now_ms
        spare = {s: {h for h in hs if h not in self._known} for s, hs in self._unsends.items()}
        out = []
        for t in self._tombstones:
            if expiry_seconds and t.server_time_ms + expiry_seconds * 1000 <= now:
                continue
            unsent = self._unsends.get(t.sender_id, set())
            h = self._hashes.get(t.seq)
            if h is not None and h in unsent:
                continue
            if h is None and spare.get(t.sender_id):
                spare[t.sender_id].pop()  # an unsend of a message this receiver never had
                continue
            out.append(Finding("removed-by-server", t.seq, t.sender_id))
        return out


def check(items: Iterable[Received | Tombstone], **expiry) -> list[Finding]:
    """All findings for a whole history, in order, then the unexplained tombstones."""
    timeline = Timeline()
    out = [f for item in items for f in timeline.add(item)]
    return out + timeline.unexplained_tombstones(**expiry)


_LINES = {
    "missing": "a message from {0} is missing",
    "reordered": "a message from {0} arrived out of order",
    "history-differs": "your history differs from {0}'s",
    "clock-skew": "{0}'s message has a server time more than 10 minutes from its clock",
    "removed-by-server": "a message from {0} was removed by the server",
    "duplicate": "a repeated message from {0} was hidden",
    "conflicting-duplicate": "{0} sent two different messages under one id",
}


def describe(finding: Finding, name: Callable[[int], str]) -> str:
    return _LINES[finding.kind].format(name(finding.sender_id))
