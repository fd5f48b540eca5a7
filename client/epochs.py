"""Epoch envelopes and the signed epoch statement (protocol.md §16).

    plaintext = canonical JSON {"conversation": hex(conversation_id), "epoch": n,
                                "name": group name, "secret": base64url_nopad(secret), "v": 2}
    envelope  = age file of plaintext, one stanza per listed member (in list order)
    members   = for each member, sorted by user id (strictly increasing, at least one):
                u64 user_id || u64 generation || recipient_hash(32) || ed25519_hash(32)
    epoch     = statement("securechat/v2/epoch", conversation_id(16), u64 epoch,
                          prev_envelope_hash(32), chain_head(32), members(raw, 80 x n),
                          u64 creator_id, u64 creator_generation, envelope_hash(32))
    envelope_hash = SHA-256(envelope);  signature = Ed25519 by the creator

An epoch is named by ``(conversation_id, epoch, envelope_hash)``
(:class:`EpochRegistry` raises :class:`EquivocationDetected` for two hashes
with one number). :func:`open_epoch` checks everything a member can check
before it uses the secret; :func:`epoch_due` decides from verified state
whether a new epoch is needed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import agecrypt

from . import _rand, signing
from . import fingerprints as fp
from . import statements as st
from .endorsement import Endorsed
from .errors import (
    CannotOpenError,
    EpochError,
    EquivocationDetected,
    NotMyKey,
    PinMismatchError,
    StatementError,
    UnknownKeyError,
    UsageError,
)
from .membership import ChainState, MembershipChain

__all__ = [
    "EPOCH",
    "EpochRegistry",
    "EpochStatement",
    "MemberEntry",
    "OpenedEpoch",
    "build_epoch",
    "decode_members",
    "encode_members",
    "encode_plaintext",
    "max_envelope_size",
    "epoch_due",
    "open_epoch",
    "parse_epoch_statement",
    "parse_plaintext",
]

EPOCH = st.Schema(
    "securechat/v2/epoch",
    (
        st.Field("conversation_id", st.Kind.BYTES, 16),
        st.Field("epoch", st.Kind.U64),
        st.Field("prev_envelope_hash", st.Kind.BYTES, 32),
        st.Field("chain_head", st.Kind.BYTES, 32),
        st.Field("members", st.Kind.RAW),
        st.Field("creator_id", st.Kind.U64),
        st.Field("creator_generation", st.Kind.U64),
        st.Field("envelope_hash", st.Kind.BYTES, 32),
    ),
)
ENTRY_SIZE = 80


def max_envelope_size(members: int) -> int:
    """The documented limit (DESIGN.md §5): members x 1.6 KB + 4 KiB."""
    return members * 1600 + 4096

SECRET_SIZE = 32
KeyLookup = Callable[[int, int], "Endorsed | None"]


@dataclass(frozen=True)
class MemberEntry:
    user_id: int
    generation: int
    fingerprints: fp.Fingerprints

    @classmethod
    def of(cls, keys: Endorsed) -> MemberEntry:
        return cls(keys.user_id, keys.generation, fp.of(keys))


def encode_members(entries: Sequence[MemberEntry]) -> bytes:
    """The ``members`` field: 80-byte records, strictly increasing user ids, at least one."""
    ids = [e.user_id for e in entries]
    if not ids or ids != sorted(set(ids)):
        raise UsageError("members: at least one, sorted by user id, no repeats")
    return b"".join(
        st.u64(e.user_id) + st.u64(e.generation)
        + e.fingerprints.recipient_hash + e.fingerprints.ed25519_hash
        for e in entries
    )


def decode_members(raw: bytes) -> tuple[MemberEntry, ...]:
    """Inverse of :func:`encode_members`; :class:`StatementError` if not canonical."""
    if not raw or len(raw) % ENTRY_SIZE:
        raise StatementError("members: a non-empty sequence of 80-byte entries")
    out = []
    for pos in range(0, len(raw), ENTRY_SIZE):
        r = raw[pos : pos + ENTRY_SIZE]
        prints = fp.Fingerprints(r[16:48], r[48:80])
        user_id, generation = int.from_bytes(r[:8], "big"), int.from_bytes(r[8:16], "big")
        out.append(MemberEntry(user_id, generation, prints))
    ids = [e.user_id for e in out]
    if ids != sorted(set(ids)):
        raise StatementError("members: user ids not strictly increasing")
    return tuple(out)


@dataclass(frozen=True)
class EpochStatement:
    conversation_id: bytes
    epoch: int
    prev_envelope_hash: bytes
    chain_head: bytes
    members: tuple[MemberEntry, ...]
    creator_id: int
    creator_generation: int
    envelope_hash: bytes

    def to_bytes(self) -> bytes:
        values = {**self.__dict__, "members": encode_members(self.members)}
        return st.encode(EPOCH, values)

    @property
    def name(self) -> tuple[bytes, int, bytes]:
        """``(conversation_id, epoch, envelope_hash)``: how an epoch is named."""
        return self.conversation_id, self.epoch, self.envelope_hash

    def entry(self, user_id: int) -> MemberEntry | None:
        return next((e for e in self.members if e.user_id == user_id), None)


def parse_epoch_statement(data: bytes) -> EpochStatement:
    values = st.parse(EPOCH, data)
    values["members"] = decode_members(values["members"])
    return EpochStatement(**values)


# --- plaintext ---------------------------------------------------------------


def _b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def encode_plaintext(conversation_id: bytes, epoch: int, secret: bytes, name: str) -> bytes:
    """Canonical JSON: keys sorted, no spaces, UTF-8 (non-ASCII unescaped), as
    ``JSON.stringify`` with the keys in this order gives."""
    if not isinstance(secret, bytes) or len(secret) != SECRET_SIZE:
        raise UsageError("an epoch secret is 32 bytes")
    if not isinstance(name, str):
        raise UsageError("a group name is a str")
    st.u64(epoch)  # refuses a bool, a negative or an oversized number
    doc = {"conversation": bytes(conversation_id).hex(), "epoch": epoch,
           "name": name, "secret": _b64url(secret), "v": 2}
    try:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=True).encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError("the group name is not valid Unicode") from None


def parse_plaintext(data: bytes) -> tuple[bytes, int, bytes, str]:
    """``(conversation_id, epoch, secret, name)``; :class:`EpochError` unless ``data`` is
    exactly what :func:`encode_plaintext` writes for those values."""
    try:
        doc = json.loads(bytes(data).decode("utf-8"))
        conv = bytes.fromhex(doc["conversation"])
        secret = base64.urlsafe_b64decode(doc["secret"] + "=" * (-len(doc["secret"]) % 4))
        values = (conv, doc["epoch"], secret, doc["name"])
        canonical = encode_plaintext(*values) == bytes(data) and doc["v"] == 2
    except (ValueError, KeyError, TypeError, AttributeError, UsageError):
        canonical = False
    if not canonical:
        raise EpochError("the envelope plaintext is not canonical")
    return values


# --- build -------------------------------------------------------------------


def build_epoch(
    key: Ed25519PrivateKey, creator: Endorsed, *, conversation_id: bytes, epoch: int,
    prev_envelope_hash: bytes, chain_head: bytes, members: Sequence[Endorsed], name: str,
) -> tuple[bytes, bytes, bytes, bytes]:
    """``(envelope, statement bytes, signature, secret)`` for a new epoch.

    ``members`` are the current keys of every member (the creator included);
    the secret is drawn from the randomness seam.
    """
    keys = sorted(members, key=lambda k: k.user_id)
    if creator not in keys:
        raise UsageError("the creator is one of the members")
    secret = _rand._random_bytes(SECRET_SIZE)
    recipients = [agecrypt.parse_recipient(k.recipient) for k in keys]
    envelope = agecrypt.encrypt(encode_plaintext(conversation_id, epoch, secret, name), recipients)
    if len(envelope) > max_envelope_size(len(keys)):
        raise UsageError("the envelope would exceed its size limit (a shorter group name)")
    statement = EpochStatement(
        bytes(conversation_id), epoch, bytes(prev_envelope_hash), bytes(chain_head),
        tuple(MemberEntry.of(k) for k in keys), creator.user_id, creator.generation,
        hashlib.sha256(envelope).digest(),
    )
    data = statement.to_bytes()
    return envelope, data, signing.sign(key, data), secret


# --- open and verify ---------------------------------------------------------


@dataclass(frozen=True)
class OpenedEpoch:
    statement: EpochStatement
    secret: bytes
    name: str


def open_epoch(
    envelope: bytes, data: bytes, signature: bytes, *, me: Endorsed,
    identity: agecrypt.Identity, chain: MembershipChain, key_lookup: KeyLookup,
    previous: EpochStatement | None = None, departed: Collection[int] = frozenset(),
) -> OpenedEpoch:
    """Verify an epoch as member ``me`` (own current keys, ``identity`` its age identity).

    In order: signature by the creator's accepted key (:class:`UnknownKeyError`,
    :class:`SignatureError`); envelope hash; a head the chain verified and a
    creator who is a member there; that it follows ``previous`` (the epoch
    this client holds before it, if any: its hash and a higher number);
    ``me``'s own entry (:class:`NotMyKey`); the member list against the chain
    state less ``departed`` (removals the server announced: deleted or
    deactivated accounts) and accepted keys (:class:`PinMismatchError`,
    :class:`UnknownKeyError`); one stanza per member; decryption
    (:class:`CannotOpenError`); plaintext equal to the signed fields. Every
    other failure is :class:`EpochError`.
    """
    statement, state = _check_signed(bytes(envelope), data, signature, chain, key_lookup)
    if len(envelope) > max_envelope_size(len(statement.members)):
        raise EpochError("the envelope exceeds its size limit")
    if previous is not None and (
        statement.prev_envelope_hash != previous.envelope_hash
        or statement.epoch <= previous.epoch
        or statement.conversation_id != previous.conversation_id
    ):
        raise EpochError("the epoch does not follow the previous one")
    if statement.creator_id in departed:
        raise EpochError("the epoch's creator has left the conversation")
    own = statement.entry(me.user_id)
    if own is None or own != MemberEntry.of(me):
        raise NotMyKey("the epoch does not encrypt to this member's current keys")
    _check_members(statement, state, key_lookup, frozenset(departed))
    _check_stanzas(bytes(envelope), len(statement.members))
    try:
        plaintext = agecrypt.decrypt(bytes(envelope), [identity])
    except agecrypt.AgeError:
        raise CannotOpenError("this member's stanza does not open") from None
    conv, number, secret, name = parse_plaintext(plaintext)
    if (conv, number) != (statement.conversation_id, statement.epoch):
        raise EpochError("the envelope plaintext differs from the signed fields")
    return OpenedEpoch(statement, secret, name)


def _check_signed(
    envelope: bytes, data: bytes, signature: bytes, chain: MembershipChain, key_lookup: KeyLookup
) -> tuple[EpochStatement, ChainState]:
    """The statement, signed by its creator over this envelope, and the chain state it names."""
    statement = parse_epoch_statement(data)
    creator = key_lookup(statement.creator_id, statement.creator_generation)
    if creator is None:
        raise UnknownKeyError("no accepted key for the epoch's creator")
    signing.verify(creator.ed25519, data, signature)
    if hashlib.sha256(envelope).digest() != statement.envelope_hash:
        raise EpochError("the envelope is not the one the creator signed")
    state = chain.state_at(statement.chain_head)
    if state is None or state.conversation_id != statement.conversation_id:
        raise EpochError("the epoch signs a chain head this client has not verified")
    if not state.is_member(statement.creator_id):
        raise EpochError("the epoch's creator is not a member at its chain head")
    return statement, state


def _check_members(
    statement: EpochStatement, state: ChainState, key_lookup: KeyLookup, departed: frozenset[int]
) -> None:
    """The list names exactly the chain's members (less ``departed``), each with keys this
    client accepts."""
    if [e.user_id for e in statement.members] != sorted(set(state.members) - departed):
        raise EpochError("the member list differs from the membership chain")
    for entry in statement.members:
        vouched = state.members[entry.user_id]
        if entry.generation < vouched.generation:
            raise EpochError("a member listed with a key older than the chain's")
        if entry.generation == vouched.generation and entry.fingerprints != vouched.fingerprints:
            raise PinMismatchError("a member's key differs from the one the chain vouches for")
        keys = key_lookup(entry.user_id, entry.generation)
        if keys is None and entry.generation != vouched.generation:
            raise UnknownKeyError("a member listed with a key this client has not accepted")
        if keys is not None and MemberEntry.of(keys) != entry:
            raise PinMismatchError("a member's key differs from the pinned one")


def _check_stanzas(envelope: bytes, count: int) -> None:
    try:
        info = agecrypt.inspect(io.BytesIO(envelope))
    except agecrypt.AgeError:
        raise EpochError("the envelope is not an age file") from None
    if len(info.stanza_types) != count:
        raise EpochError("the envelope's stanza count differs from its member count")


# --- due, and equivocation ---------------------------------------------------


def epoch_due(
    current: EpochStatement | None, state: ChainState, generations: Mapping[int, int],
    departed: Collection[int] = frozenset(),
) -> str | None:
    """Why a new epoch is due, from verified state only, or ``None``.

    ``generations`` maps members to their current accepted key generation
    (members it omits keep the chain's); ``departed`` are removals the server
    announced. Reasons: ``"no-epoch"``, ``"chain-head"`` (membership changed),
    ``"members"`` (an announced removal), ``"key-generation"``.
    """
    if current is None:
        return "no-epoch"
    if current.chain_head != state.head:
        return "chain-head"
    if [e.user_id for e in current.members] != sorted(set(state.members) - set(departed)):
        return "members"
    for entry in current.members:
        now = generations.get(entry.user_id, state.members[entry.user_id].generation)
        if now != entry.generation:
            return "key-generation"
    return None


@dataclass
class EpochRegistry:
    """Epochs this client has seen, by ``(conversation_id, epoch) -> envelope_hash``."""

    _seen: dict[tuple[bytes, int], bytes] = field(default_factory=dict)
    _blocked: set[bytes] = field(default_factory=set)

    def record(self, conversation_id: bytes, epoch: int, envelope_hash: bytes) -> None:
        """Remember an epoch; :class:`EquivocationDetected` (and sending blocked in that
        conversation) if another envelope hash already holds that number."""
        key = (bytes(conversation_id), epoch)
        first = self._seen.setdefault(key, bytes(envelope_hash))
        if first != envelope_hash:
            self._blocked.add(key[0])
            raise EquivocationDetected(key[0], epoch, first, bytes(envelope_hash))

    def hash_of(self, conversation_id: bytes, epoch: int) -> bytes | None:
        return self._seen.get((bytes(conversation_id), epoch))

    def latest(self, conversation_id: bytes) -> tuple[int, bytes] | None:
        """``(epoch, envelope_hash)`` of the highest epoch seen in the conversation."""
        mine = [(n, h) for (c, n), h in self._seen.items() if c == bytes(conversation_id)]
        return max(mine) if mine else None

    def sending_blocked(self, conversation_id: bytes) -> bool:
        return bytes(conversation_id) in self._blocked
