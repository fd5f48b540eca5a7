"""Membership operations as signed statements, and the chain verifier (protocol.md §15).

    operation = statement("securechat/v2/membership",
        conversation_id(16), u64 index, prev_hash(32), u64 actor_id, u64 actor_generation,
        ascii(kind), u64 target_id, u64 target_generation,
        target_recipient_hash(32), target_ed25519_hash(32), argument(raw), u64 client_clock_ms)
    operation_hash = SHA-256(operation); signature = Ed25519 by the actor's key generation

Index 0 is ``create`` with ``prev_hash`` zeros and the creator as its own
target; every later operation names the hash of the one before it. Targets
and arguments per kind are fixed (:data:`KINDS`); anything else is refused.

:class:`MembershipChain` replays operations from ``create``, verifying each
signature with the key its ``key_lookup`` returns (pinned or accepted keys
only) and judging authority in the state *before* the operation. It refuses
gaps, repeats, reorders, wrong previous hashes, unknown kinds, bad signatures
and forks (:class:`ForkDetected` carries both operations). The state after
each operation is kept by its hash, so an epoch can be checked against the
state at the head it signs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import _clock, signing
from . import fingerprints as fp
from . import statements as st
from .endorsement import Endorsed
from .errors import (
    ChainLinkError,
    ChainOrderError,
    ForkDetected,
    MemberLimitError,
    MembershipError,
    NotAuthorizedError,
    UnknownKeyError,
    UnknownKindError,
    UsageError,
)

__all__ = [
    "DEFAULT_MAX_MEMBERS",
    "KINDS",
    "MEMBERSHIP",
    "ChainState",
    "Member",
    "MembershipChain",
    "Operation",
    "describe",
    "expiry_argument",
    "operation_hash",
    "parse_operation",
    "sign_operation",
]

MEMBERSHIP = st.Schema(
    "securechat/v2/membership",
    (
        st.Field("conversation_id", st.Kind.BYTES, 16),
        st.Field("index", st.Kind.U64),
        st.Field("prev_hash", st.Kind.BYTES, 32),
        st.Field("actor_id", st.Kind.U64),
        st.Field("actor_generation", st.Kind.U64),
        st.Field("kind", st.Kind.ASCII),
        st.Field("target_id", st.Kind.U64),
        st.Field("target_generation", st.Kind.U64),
        st.Field("target_recipient_hash", st.Kind.BYTES, 32),
        st.Field("target_ed25519_hash", st.Kind.BYTES, 32),
        st.Field("argument", st.Kind.RAW),
        st.Field("client_clock_ms", st.Kind.U64),
    ),
)
ZERO_HASH = bytes(32)
DEFAULT_MAX_MEMBERS = 100

# kind -> (target shape, argument length): "self" = the actor with its keys, "keys" = another
# user with generation and fingerprints, "id" = another user by id only, "none" = all zeros.
KINDS: Mapping[str, tuple[str, int]] = {
    "create": ("self", 0),
    "add": ("keys", 0),
    "remove": ("id", 0),
    "leave": ("none", 0),
    "grant-admin": ("id", 0),
    "revoke-admin": ("id", 0),
    "rename": ("none", 0),
    "set-expiry": ("none", 8),
}

KeyLookup = Callable[[int, int], "Endorsed | None"]


@dataclass(frozen=True)
class Operation:
    """One membership operation (the statement's fields)."""

    conversation_id: bytes
    index: int
    prev_hash: bytes
    actor_id: int
    actor_generation: int
    kind: str
    target_id: int = 0
    target_generation: int = 0
    target_recipient_hash: bytes = ZERO_HASH
    target_ed25519_hash: bytes = ZERO_HASH
    argument: bytes = b""
    client_clock_ms: int = 0

    def to_bytes(self) -> bytes:
        return st.encode(MEMBERSHIP, self.__dict__)

    @property
    def target_fingerprints(self) -> fp.Fingerprints:
        return fp.Fingerprints(self.target_recipient_hash, self.target_ed25519_hash)

    @property
    def expiry_seconds(self) -> int:
        """The ``set-expiry`` argument (0 = messages do not expire)."""
        if self.kind != "set-expiry":
            raise UsageError("only set-expiry carries an expiry")
        return int.from_bytes(self.argument, "big")


def expiry_argument(seconds: int) -> bytes:
    """The ``set-expiry`` argument: u64 seconds, 0 turns expiry off."""
    return st.u64(seconds)


def parse_operation(data: bytes) -> Operation:
    """An operation from its bytes; :class:`StatementError` if not canonical,
    :class:`UnknownKindError` / :class:`MembershipError` if its kind, target or
    argument do not have the shape :data:`KINDS` fixes."""
    op = Operation(**st.parse(MEMBERSHIP, data))
    _check_shape(op)
    return op


def _check_shape(op: Operation) -> None:
    if op.kind not in KINDS:
        raise UnknownKindError("unknown membership operation kind")
    target, arg_len = KINDS[op.kind]
    if len(op.argument) != arg_len:
        raise MembershipError(f"{op.kind} takes an argument of {arg_len} bytes")
    has_keys = op.target_generation != 0 or not op.target_fingerprints.is_none()
    if target == "none" and (op.target_id != 0 or has_keys):
        raise MembershipError(f"{op.kind} has no target")
    if target == "id" and (op.target_id == 0 or has_keys):
        raise MembershipError(f"{op.kind} names its target by id only")
    if target in ("keys", "self") and (
        op.target_id == 0 or op.target_generation == 0 or op.target_fingerprints.is_none()
    ):
        raise MembershipError(f"{op.kind} carries the target's generation and fingerprints")
    if target == "self" and (op.target_id, op.target_generation) != (
        op.actor_id, op.actor_generation
    ):
        raise MembershipError("create names its creator as the target")
    if (op.kind == "create") != (op.index == 0):
        raise ChainOrderError("a chain starts with create, and only there")
    if op.index == 0 and op.prev_hash != ZERO_HASH:
        raise ChainLinkError("create has no previous operation")


def operation_hash(data: bytes) -> bytes:
    """SHA-256 of the operation's statement bytes (the next operation's ``prev_hash``)."""
    return hashlib.sha256(bytes(data)).digest()


def sign_operation(key: Ed25519PrivateKey, op: Operation) -> tuple[bytes, bytes]:
    """``(statement bytes, signature)``; the operation's shape is checked first.

    A ``client_clock_ms`` of 0 is replaced by the private clock seam.
    """
    if op.client_clock_ms == 0:
        op = replace(op, client_clock_ms=_clock._now_ms())
    data = op.to_bytes()
    parse_operation(data)  # refuses a target or argument of the wrong shape for the kind
    return data, signing.sign(key, data)


# --- state -------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A member as the chain records it: the keys the adder vouched for (``vouched_by``;
    the creator vouches for itself)."""

    user_id: int
    generation: int
    fingerprints: fp.Fingerprints
    vouched_by: int


@dataclass(frozen=True)
class ChainState:
    """The membership after operation ``index`` whose hash is ``head`` (read-only)."""

    conversation_id: bytes
    index: int
    head: bytes
    members: Mapping[int, Member]
    admins: frozenset[int]
    expiry_seconds: int = 0
    renames: int = 0

    def is_member(self, user_id: int) -> bool:
        return user_id in self.members

    def disputed(self, key_lookup: KeyLookup) -> tuple[int, ...]:
        """Members whose vouched keys differ from the keys this client pinned or accepted
        for that generation (itself included: the caller's lookup knows its own keys).

        A non-empty answer is an alert: e.g. the server handed the adder a wrong key.
        """
        out = []
        for user_id in sorted(self.members):
            member = self.members[user_id]
            keys = key_lookup(user_id, member.generation)
            if keys is not None and fp.of(keys) != member.fingerprints:
                out.append(user_id)
        return tuple(out)


def _require(ok: bool, why: str) -> None:
    if not ok:
        raise NotAuthorizedError(why)


def _apply(state: ChainState | None, op: Operation, head: bytes, max_members: int) -> ChainState:
    """The state after ``op``, judged in ``state`` (the state before it)."""
    if state is None:
        me = Member(op.actor_id, op.actor_generation, op.target_fingerprints, op.actor_id)
        members = MappingProxyType({op.actor_id: me})
        return ChainState(op.conversation_id, 0, head, members, frozenset({op.actor_id}))
    _require(state.is_member(op.actor_id), "the actor is not a member")
    members, admins = dict(state.members), set(state.admins)
    after = {"index": op.index, "head": head}
    if op.kind == "leave":
        del members[op.actor_id]
        admins.discard(op.actor_id)
    else:
        _require(op.actor_id in admins, f"only an admin may {op.kind}")
    if op.kind == "add":
        _require(not state.is_member(op.target_id), "the target is already a member")
        if len(members) + 1 > max_members:
            raise MemberLimitError("the conversation is at its member limit")
        members[op.target_id] = Member(
            op.target_id, op.target_generation, op.target_fingerprints, op.actor_id
        )
    elif op.kind in ("remove", "grant-admin", "revoke-admin"):
        _require(state.is_member(op.target_id), "the target is not a member")
        _require(op.kind != "remove" or op.target_id != op.actor_id, "a member leaves, not removes")
        _require(op.kind != "grant-admin" or op.target_id not in admins, "already an admin")
        _require(op.kind != "revoke-admin" or op.target_id in admins, "not an admin")
        if op.kind == "remove":
            del members[op.target_id]
        (admins.add if op.kind == "grant-admin" else admins.discard)(op.target_id)
    elif op.kind == "set-expiry":
        after["expiry_seconds"] = op.expiry_seconds
    elif op.kind == "rename":
        after["renames"] = state.renames + 1
    return replace(state, members=MappingProxyType(members), admins=frozenset(admins), **after)


# --- the verifier ------------------------------------------------------------


@dataclass
class _Entry:
    data: bytes
    signature: bytes
    op: Operation


@dataclass
class MembershipChain:
    """Verifies a conversation's membership chain operation by operation.

    ``key_lookup(user_id, generation)`` returns the pinned or accepted
    :class:`Endorsed` keys of that generation, or ``None`` (then the operation
    is refused with :class:`UnknownKeyError`). ``max_members`` is the
    deployment's member limit.
    """

    key_lookup: KeyLookup
    max_members: int = DEFAULT_MAX_MEMBERS
    _entries: list[_Entry] = field(default_factory=list)
    _states: dict[bytes, ChainState] = field(default_factory=dict)
    _state: ChainState | None = None

    @classmethod
    def replay(
        cls, operations: Iterable[tuple[bytes, bytes]], key_lookup: KeyLookup,
        max_members: int = DEFAULT_MAX_MEMBERS,
    ) -> MembershipChain:
        """A chain verified from ``create`` over ``(statement, signature)`` pairs in order."""
        chain = cls(key_lookup, max_members)
        for data, signature in operations:
            chain.append(data, signature)
        return chain

    @property
    def state(self) -> ChainState:
        if self._state is None:
            raise UsageError("the chain is empty")
        return self._state

    def state_at(self, head: bytes) -> ChainState | None:
        """The verified state whose head is ``head``, or ``None`` if no operation has that hash."""
        return self._states.get(bytes(head))

    @property
    def operations(self) -> list[Operation]:
        return [e.op for e in self._entries]

    def append(self, data: bytes, signature: bytes) -> ChainState:
        """Verify one more operation and return the new state; nothing changes on error."""
        data, signature = bytes(data), bytes(signature)
        op = parse_operation(data)
        self._verify_signature(op, data, signature)
        self._check_position(op, data, signature)
        head = operation_hash(data)
        state = _apply(self._state, op, head, self.max_members)
        self._entries.append(_Entry(data, signature, op))
        self._states[head] = state
        self._state = state
        return state

    def _verify_signature(self, op: Operation, data: bytes, signature: bytes) -> None:
        keys = self.key_lookup(op.actor_id, op.actor_generation)
        if keys is None:
            raise UnknownKeyError("no accepted key for the operation's actor")
        if (keys.user_id, keys.generation) != (op.actor_id, op.actor_generation):
            raise UsageError("key_lookup returned another user's or generation's keys")
        signing.verify(keys.ed25519, data, signature)

    def _check_position(self, op: Operation, data: bytes, signature: bytes) -> None:
        """Refuse repeats, forks (signed, so shown as such), gaps and broken links."""
        nxt = len(self._entries)
        if nxt and op.conversation_id != self._entries[0].op.conversation_id:
            raise ChainOrderError("an operation of another conversation")
        if op.index < nxt:
            earlier = self._entries[op.index]
            if earlier.data == data:
                raise ChainOrderError("a repeated (replayed) membership operation")
            raise ForkDetected(op.index, (earlier.data, earlier.signature), (data, signature))
        if op.index > nxt:
            raise ChainOrderError("a gap in the membership chain")
        expected = operation_hash(self._entries[-1].data) if nxt else ZERO_HASH
        if op.prev_hash != expected:
            raise ChainLinkError("the previous hash is not the chain head")

    def vouched(self, user_id: int) -> tuple[fp.Fingerprints, int, int] | None:
        """``(fingerprints, generation, adder id)`` a current member was added with, for a
        client with no pin of its own ("vouched for by <adder>"); ``None`` if not a member."""
        member = self.state.members.get(user_id)
        if member is None:
            return None
        return member.fingerprints, member.generation, member.vouched_by

    def lines(self, name: Callable[[int], str]) -> list[str]:
        """One human-readable line per operation, in order ("Alice added Carol")."""
        return [describe(e.op, name) for e in self._entries]


def describe(op: Operation, name: Callable[[int], str]) -> str:
    """The timeline line for ``op``; ``name(user_id)`` gives a display name."""
    actor = name(op.actor_id)
    target = name(op.target_id) if op.target_id else ""
    if op.kind == "set-expiry":
        seconds = op.expiry_seconds
        if seconds == 0:
            return f"{actor} turned off disappearing messages"
        return f"{actor} set messages to disappear after {seconds} seconds"
    return {
        "create": f"{actor} created the conversation",
        "add": f"{actor} added {target}",
        "remove": f"{actor} removed {target}",
        "leave": f"{actor} left",
        "grant-admin": f"{actor} made {target} an admin",
        "revoke-admin": f"{actor} removed {target} as an admin",
        "rename": f"{actor} renamed the conversation",
    }[op.kind]
