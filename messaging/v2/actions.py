"""Every state change of v2 messaging (DESIGN.md §3, §5); views only adapt JSON to these.

Each ``do_*`` first runs its ``check_*`` (parsing and signatures, outside any
transaction: they are CPU work and need no lock), then, inside one
transaction holding the conversation's row lock (PostgreSQL) or the database
write lock (SQLite IMMEDIATE), re-checks what can change under it (membership,
the chain head, the current epoch), allocates seqs from ``last_seq`` and
inserts. Refusals are raised before anything is written; live pushes go out
after commit and carry ids and ciphertext only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actions.base import rate_limit
from accounts.errors import Forbidden, Invalid, NotFound
from accounts.events import push_to_users_after_commit
from accounts.models import User
from client import membership
from messaging.metrics import MESSAGES_SENT
from messaging.models import (
    Block,
    ConversationV2,
    EpochV2,
    MembershipOperation,
    MemberV2,
    MessageV2,
    ServerNoticeV2,
)
from messaging.signals import v2_file_claimed
from messaging.v2 import wire
from messaging.v2.access import access_v2_conversation
from messaging.v2.checks import (
    CheckedEpoch,
    SenderCache,
    check_epoch,
    check_file_claim,
    check_message,
    check_operation,
)
from messaging.v2.errors import (
    Blocked,
    ClientIdConflict,
    ConversationExists,
    EpochExists,
    StaleEpoch,
    StaleHead,
)

ZERO_HASH = bytes(32)
METRIC_KINDS = frozenset({"text", "file", "unsend", "reply", "edit", "reaction"})
EVENT_TYPE = "chat.v2"  # a timeline item, pushed to every member (docs/api.md)
READ_EVENT_TYPE = "chat.v2.read"
TYPING_EVENT_TYPE = "chat.v2.typing"
KEYS_EVENT_TYPE = "chat.v2.keys"


@dataclass(frozen=True)
class SignedOperation:
    statement: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedEpoch:
    envelope: bytes
    statement: bytes
    signature: bytes


@dataclass(frozen=True)
class Stored:
    """What a write stored (or, for a repeated message, found): rows in seq order."""

    conversation: ConversationV2
    items: tuple
    created: bool = True


# --- shared steps (inside the transaction) -------------------------------------------


def _locked(conversation_id: str) -> ConversationV2:
    return ConversationV2.objects.select_for_update().get(pk=conversation_id)


def lock_conversation(conversation_id: str) -> ConversationV2:
    """The conversation's row lock (inside a transaction), taken first by every action
    that changes the conversation, so they queue in one order (404 if there is none)."""
    conversation = ConversationV2.objects.select_for_update().filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def _member_ids(conversation) -> set[int]:
    return set(MemberV2.objects.filter(conversation=conversation).values_list("user_id", flat=True))


def _next_seq(conversation) -> int:
    conversation.last_seq += 1
    return conversation.last_seq


ALL_FIELDS = ("last_seq", "head", "head_index", "epoch_number", "epoch_hash",
              "expiry_seconds")
SEND_FIELDS = ("last_seq",)  # a message moves only the seq


def _save(conversation, fields=ALL_FIELDS) -> None:
    conversation.last_activity_at = timezone.now()
    conversation.save(update_fields=[*fields, "last_activity_at"])


def _announce(conversation, member_ids, items) -> None:
    """After commit: each item to every member's user group (ids, hashes, ciphertext)."""
    for item in items:
        payload = (wire.message_json(item) if isinstance(item, MessageV2)
                   else wire.epoch_announcement_json(item) if isinstance(item, EpochV2)
                   else wire.notice_json(item) if isinstance(item, ServerNoticeV2)
                   else {k: v for k, v in wire.operation_json(item).items()
                         if k not in ("statement", "signature")})
        push_to_users_after_commit(member_ids, {"type": EVENT_TYPE, "conversation": conversation.pk,
                                       "item": payload})


def _record_operation(conversation, op, signed: SignedOperation, actor) -> MembershipOperation:
    op_hash = membership.operation_hash(signed.statement)
    row = MembershipOperation.objects.create(
        conversation=conversation, index=op.index, prev_hash=op.prev_hash, op_hash=op_hash,
        kind=op.kind, actor=actor, statement=signed.statement, signature=signed.signature,
        seq=_next_seq(conversation))
    conversation.head, conversation.head_index = op_hash, op.index
    return row


def _record_epoch(conversation, checked: CheckedEpoch, creator) -> EpochV2:
    parsed = checked.statement
    row = EpochV2.objects.create(
        conversation=conversation, number=parsed.epoch, envelope=checked.envelope,
        envelope_hash=parsed.envelope_hash, statement=checked.statement_bytes,
        signature=checked.signature, creator=creator, seq=_next_seq(conversation))
    conversation.epoch_number, conversation.epoch_hash = parsed.epoch, parsed.envelope_hash
    return row


def _check_epoch_fits(conversation, checked: CheckedEpoch, member_ids: set[int],
                      prefix: str = "") -> None:
    """First stored per number wins; it must follow the current epoch, sign the current
    head and list exactly the current members (clients judge their keys)."""
    parsed = checked.statement
    winner = EpochV2.objects.filter(conversation=conversation, number=parsed.epoch).first()
    if winner is not None:
        raise EpochExists(f"Epoch {parsed.epoch} already exists; this is the stored one.",
                          extra={"epoch": wire.epoch_json(winner)})
    if (parsed.epoch < conversation.epoch_number
            or bytes(parsed.prev_envelope_hash) != bytes(conversation.epoch_hash)):
        raise StaleEpoch("The epoch does not follow the current one.",
                         extra={"epoch": wire.current_epoch_json(conversation)})
    if bytes(parsed.chain_head) != bytes(conversation.head):
        raise StaleHead("The epoch signs another chain head than the current one.",
                        extra={"head": wire.head_json(conversation)})
    if {entry.user_id for entry in parsed.members} != member_ids:
        raise Invalid("The epoch lists other members than the chain's current ones.",
                      field=prefix + "statement")


# --- create --------------------------------------------------------------------------


def direct_key(user_a_id: int, user_b_id: int) -> str:
    """The pair a direct conversation is for: ``"<low id>:<high id>"``."""
    low, high = sorted((int(user_a_id), int(user_b_id)))
    return f"{low}:{high}"


def _peer_of(conversation, user_id: int) -> int | None:
    """The other member named at creation of a direct conversation (None for a group)."""
    if conversation.direct_key is None:
        return None
    low, high = (int(part) for part in conversation.direct_key.split(":"))
    return high if low == user_id else low


def check_not_blocked(user_id: int, other_id: int) -> None:
    """403 ``blocked`` when either blocked the other (``messaging.models.Block``)."""
    if Block.objects.between(user_id, other_id).exists():
        raise Blocked("One of you blocked the other.")


def check_create(creator, conversation_id: str, kind: str, operation: SignedOperation,
                 epoch: SignedEpoch, peer=None):
    """``(operation, epoch)`` checked: operation 0 ``create`` by the creator, and an epoch
    signing it as the chain head. A direct conversation names its ``peer`` (an active
    account other than the creator, neither blocking the other); a group names none."""
    wire.conversation_id_field(conversation_id)
    if kind not in (ConversationV2.DIRECT, ConversationV2.GROUP):
        raise Invalid("kind must be direct or group.", field="kind")
    if kind == ConversationV2.DIRECT:
        if (not isinstance(peer, int) or isinstance(peer, bool) or peer == creator.pk
                or not User.objects.filter(pk=peer, is_active=True).exists()):
            raise Invalid("A direct conversation names its peer: another active account's "
                          "id.", field="peer")
        check_not_blocked(creator.pk, peer)
    elif peer is not None:
        raise Invalid("Only a direct conversation names a peer.", field="peer")
    op = check_operation(conversation_id, creator, operation.statement, operation.signature,
                         prefix="operation.")
    if op.kind != "create":
        raise Invalid("A conversation starts with a create operation.",
                      field="operation.statement")
    checked = check_epoch(conversation_id, creator, *vars(epoch).values(), prefix="epoch.")
    return op, checked


def _existing_direct(creator, key: str | None) -> Stored | None:
    """The direct conversation already started for this pair, if any: returned (nothing
    stored) to a current member; 409 for a creator who is no longer one."""
    if key is None:
        return None
    existing = ConversationV2.objects.filter(direct_key=key).first()
    if existing is None:
        return None
    if not MemberV2.objects.filter(conversation=existing, user=creator).exists():
        # Not (yet, or any more) a member: its other member adds you. The id is no secret
        # to either of the pair it was started for.
        raise ConversationExists("A direct conversation with this account exists; you are "
                                 "not a member of it (yet, or any more).",
                                 extra={"conversation": existing.pk})
    return Stored(existing, (), created=False)


def do_create_conversation(creator, conversation_id: str, kind: str,
                           operation: SignedOperation, epoch: SignedEpoch,
                           peer: int | None = None) -> Stored:
    """Create the conversation with its operation 0 and first epoch, in one transaction.

    An id already taken answers 409 ``conversation_exists`` (ids are the
    creator's random draw, so a collision is a replay or a client bug). A direct
    conversation is the same one when the pair (creator and ``peer``) is: starting it
    again returns the existing conversation (``created`` false) and stores nothing.
    """
    rate_limit("epoch_account", creator.pk)
    op, checked = check_create(creator, conversation_id, kind, operation, epoch, peer)
    limit = 2 if kind == ConversationV2.DIRECT else settings.SECURECHAT_V2_MEMBER_LIMIT
    key = direct_key(creator.pk, peer) if kind == ConversationV2.DIRECT else None
    try:
        with transaction.atomic():
            found = _existing_direct(creator, key)
            if found is not None:
                return found
            if ConversationV2.objects.filter(pk=conversation_id).exists():
                raise ConversationExists("A conversation with this id exists.")
            conversation = ConversationV2.objects.create(
                id=conversation_id, kind=kind, member_limit=limit, created_by=creator,
                head=ZERO_HASH, direct_key=key)
            op_row = _record_operation(conversation, op, operation, creator)
            MemberV2.objects.create(conversation=conversation, user=creator,
                                    joined_seq=op_row.seq, is_admin=True)
            _check_epoch_fits(conversation, checked, {creator.pk}, prefix="epoch.")
            epoch_row = _record_epoch(conversation, checked, creator)
            _save(conversation)
            _announce(conversation, [creator.pk], [op_row, epoch_row])
    except IntegrityError:  # a concurrent create of the same id (or pair) won the insert
        found = _existing_direct(creator, key)
        if found is not None:
            return found
        raise ConversationExists("A conversation with this id exists.") from None
    return Stored(conversation, (op_row, epoch_row))


# --- membership operations -----------------------------------------------------------


def check_append(user, conversation_id: str, operation: SignedOperation,
                 epoch: SignedEpoch | None):
    """``(conversation, operation, epoch or None)``: a member's signed, well-shaped
    operation (never ``create``); a ``remove`` must bring its new epoch."""
    conversation = access_v2_conversation(user, conversation_id)
    op = check_operation(conversation_id, user, operation.statement, operation.signature,
                         prefix="operation.")
    if op.kind == "create":
        raise Invalid("create is only the first operation.", field="operation.statement")
    if op.kind == "remove" and epoch is None:
        raise Invalid("A remove is accepted only together with the new epoch that signs it "
                      "as the chain head.", field="epoch")
    checked = None
    if epoch is not None:
        checked = check_epoch(conversation_id, user, *vars(epoch).values(), prefix="epoch.")
    return conversation, op, checked


def _check_authority(conversation, op, member_ids: set[int]) -> None:
    """Only an admin signs what is not a ``leave``, judged at the state before ``op``, as
    clients judge it (protocol.md §15). Clients refuse such an operation anyway; the
    server refuses it too, so that nobody's chain carries it (403 ``forbidden``)."""
    if op.kind == "leave":
        return
    admins = set(MemberV2.objects.filter(conversation=conversation, is_admin=True)
                 .values_list("user_id", flat=True))
    if op.actor_id not in admins:
        raise Forbidden(f"Only an admin may {op.kind}.", field="operation.statement")
    if op.kind in ("grant-admin", "revoke-admin"):
        if op.target_id not in member_ids:
            raise Invalid("The target is not a member.", field="operation.statement")
        if (op.kind == "grant-admin") == (op.target_id in admins):
            raise Invalid("The target is already an admin." if op.kind == "grant-admin"
                          else "The target is not an admin.", field="operation.statement")


def _apply_to_members(conversation, op, member_ids: set[int], seq: int) -> set[int]:
    """The member set after ``op`` (stored); refuses an operation whose target makes no
    sense for the server's record (clients judge authority)."""
    after = set(member_ids)
    if op.kind == "add":
        peer = _peer_of(conversation, op.actor_id)
        if peer is not None:  # a direct conversation admits only the pair it was made for
            if op.target_id != peer:
                raise Invalid("A direct conversation adds only the peer it was started with.",
                              field="operation.statement")
            check_not_blocked(op.actor_id, peer)
        if op.target_id in member_ids:
            raise Invalid("The target is already a member.", field="operation.statement")
        if len(member_ids) >= conversation.member_limit:
            raise Invalid(f"This conversation has at most {conversation.member_limit} members.",
                          code="member_limit", field="operation.statement")
        if not User.objects.filter(pk=op.target_id, is_active=True).exists():
            raise Invalid("The target is not an active account.", field="operation.statement")
        MemberV2.objects.create(conversation=conversation, user_id=op.target_id, joined_seq=seq)
        after.add(op.target_id)
    elif op.kind in ("remove", "leave"):
        gone = op.actor_id if op.kind == "leave" else op.target_id
        if gone not in member_ids or (op.kind == "remove" and gone == op.actor_id):
            raise Invalid("The target is not another member.", field="operation.statement")
        MemberV2.objects.filter(conversation=conversation, user_id=gone).delete()
        after.discard(gone)
    elif op.kind in ("grant-admin", "revoke-admin"):
        MemberV2.objects.filter(conversation=conversation, user_id=op.target_id).update(
            is_admin=op.kind == "grant-admin")
    elif op.kind == "set-expiry":
        conversation.expiry_seconds = op.expiry_seconds
    return after


def do_append_operation(user, conversation_id: str, operation: SignedOperation,
                        epoch: SignedEpoch | None = None) -> Stored:
    """Append by compare-and-swap on the chain head (409 ``stale_head`` with the head),
    with the epoch that covers it when one is given (required for ``remove``)."""
    if epoch is not None:
        rate_limit("epoch_account", user.pk)
    _, op, checked = check_append(user, conversation_id, operation, epoch)
    with transaction.atomic():
        conversation = _locked(conversation_id)
        members = _member_ids(conversation)
        if user.pk not in members:
            raise NotFound("No such conversation.")
        if op.index != conversation.head_index + 1 or op.prev_hash != bytes(conversation.head):
            raise StaleHead("The chain head moved; refetch, re-check and re-sign.",
                            extra={"head": wire.head_json(conversation)})
        _check_authority(conversation, op, members)
        op_row = _record_operation(conversation, op, operation, user)
        after = _apply_to_members(conversation, op, members, op_row.seq)
        items = [op_row]
        if checked is not None:
            _check_epoch_fits(conversation, checked, after, prefix="epoch.")
            items.append(_record_epoch(conversation, checked, user))
        _save(conversation)
        _announce(conversation, members | after, items)
    return Stored(conversation, tuple(items))


# --- epochs --------------------------------------------------------------------------


def do_store_epoch(user, conversation_id: str, epoch: SignedEpoch) -> Stored:
    """Store the first epoch for its number (409 ``epoch_exists`` with the winner)."""
    access_v2_conversation(user, conversation_id)
    rate_limit("epoch_account", user.pk)  # counted for members only: others learn nothing
    checked = check_epoch(conversation_id, user, *vars(epoch).values())
    with transaction.atomic():
        conversation = _locked(conversation_id)
        members = _member_ids(conversation)
        if user.pk not in members:
            raise NotFound("No such conversation.")
        _check_epoch_fits(conversation, checked, members)
        row = _record_epoch(conversation, checked, user)
        _save(conversation)
        _announce(conversation, members, [row])
    return Stored(conversation, (row,))


# --- messages ------------------------------------------------------------------------


def check_send(sender, conversation_id: str, box: bytes, statement: bytes, signature: bytes,
               file_claim: SignedOperation | None = None, cache: SenderCache | None = None):
    """Authorize, then the box's format and the sender's signature over its statement
    (and over the file claim, when one comes with it): ``(parsed, claim or None)``.

    With a connection's ``cache``, a conversation it already passed skips the access read
    (the transaction re-checks membership) and directory keys are remembered."""
    if cache is None or conversation_id not in cache.member_of:
        access_v2_conversation(sender, conversation_id)
        if cache is not None:
            cache.remember_member(conversation_id)
    parsed = check_message(conversation_id, sender, box, statement, signature, cache)
    claim = None
    if file_claim is not None:
        claim = check_file_claim(conversation_id, sender, parsed, file_claim.statement,
                                 file_claim.signature)
        if not v2_file_claimed.has_listeners():
            raise Invalid("This server takes no file claims.", field="file_claim")
    return parsed, claim


def _repeat(conversation_id: str, sender, client_message_id: bytes,
            message_hash: bytes) -> MessageV2 | None:
    """The row stored earlier under this client message id, if any (a retried send); 409
    ``client_id_conflict`` when it holds another statement."""
    found = MessageV2.objects.filter(conversation_id=conversation_id, sender=sender,
                                     client_message_id=client_message_id).first()
    if found is not None and bytes(found.message_hash) != message_hash:
        raise ClientIdConflict("Another message was stored under this client message id.",
                               extra={"seq": found.seq})
    return found


def do_send_message(sender, conversation_id: str, box: bytes, statement: bytes,
                    signature: bytes, file_claim: SignedOperation | None = None,
                    cache: SenderCache | None = None) -> Stored:
    """Store a message box in the current epoch at the next seq; idempotent by client
    message id (the same statement returns the stored row, another is a 409).

    With ``file_claim`` (a file message, protocol.md §20) the ``v2_file_claimed``
    listener links the named upload to the stored row in the same transaction, or
    refuses (403) and nothing is stored.

    Speed (DESIGN.md §5): four statements in the transaction (lock the conversation,
    read its members, insert, update ``last_seq``), five in a direct conversation (the
    block check). A repeated client message id is found by the unique constraint, not a
    read before every insert: the insert fails, the transaction rolls back (no seq is
    used) and the stored row is returned. A refusal that a retry could meet (blocked,
    stale epoch) first looks for the stored row, so a retry still gets its ack."""
    parsed, claim = check_send(sender, conversation_id, box, statement, signature, file_claim,
                               cache)
    message_hash = hashlib.sha256(statement).digest()
    try:
        with transaction.atomic():
            return _store_message(sender, conversation_id, parsed, box, statement, signature,
                                  message_hash, claim, cache)
    except IntegrityError:
        found = _repeat(conversation_id, sender, parsed.client_message_id, message_hash)
        if found is None:
            raise
        return Stored(ConversationV2.objects.get(pk=conversation_id), (found,), created=False)


def _store_message(sender, conversation_id, parsed, box, statement, signature, message_hash,
                   claim, cache) -> Stored:
    """The transaction of ``do_send_message`` (the caller holds it)."""
    context = parsed.context
    conversation = _locked(conversation_id)
    members = _member_ids(conversation)
    if sender.pk not in members:
        if cache is not None:
            cache.member_of.discard(conversation_id)
        raise NotFound("No such conversation.")

    def refuse(error: Exception) -> Stored:
        found = _repeat(conversation_id, sender, parsed.client_message_id, message_hash)
        if found is None:
            raise error
        return Stored(conversation, (found,), created=False)

    peer = _peer_of(conversation, sender.pk)
    if peer is not None and Block.objects.between(sender.pk, peer).exists():
        return refuse(Blocked("One of you blocked the other."))
    if (context.epoch, context.envelope_hash) != (conversation.epoch_number,
                                                  bytes(conversation.epoch_hash)):
        return refuse(StaleEpoch("The message names another epoch than the current one.",
                                 extra={"epoch": wire.current_epoch_json(conversation)}))
    row = MessageV2.objects.create(
        conversation=conversation, sender=sender, device_id=context.device_id,
        device_counter=context.device_counter, client_message_id=parsed.client_message_id,
        epoch_number=context.epoch, box=box, statement=statement, signature=signature,
        message_hash=message_hash, seq=_next_seq(conversation))
    if claim is not None:
        v2_file_claimed.send(sender=MessageV2, user=sender, message=row, claim=claim)
    _save(conversation, SEND_FIELDS)
    _announce(conversation, members, [row])
    transaction.on_commit(MESSAGES_SENT.labels(metric_kind(parsed.kind)).inc)
    return Stored(conversation, (row,))


def metric_kind(kind: str) -> str:
    """The metrics label of a statement kind: the client writes the kind, so only the
    documented ones become labels (a label per invented kind would grow without end)."""
    return kind if kind in METRIC_KINDS else "other"


# --- read positions ------------------------------------------------------------------


def do_mark_read(user, conversation_id: str, seq: int) -> int:
    """Move the member's read position forward to ``seq`` (capped at the last seq; never
    backwards) and return it. Metadata the server sees (docs/security.md)."""
    conversation = access_v2_conversation(user, conversation_id)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise Invalid("seq must be a non-negative integer.", field="seq")
    target = min(seq, conversation.last_seq)
    with transaction.atomic():
        member = (MemberV2.objects.select_for_update()
                  .filter(conversation=conversation, user=user).first())
        if member is None:
            raise NotFound("No such conversation.")
        if target > member.last_read_seq:
            member.last_read_seq = target
            member.save(update_fields=["last_read_seq"])
            notify_read(conversation, user, target)
        return member.last_read_seq


def notify_read(conversation, reader, seq: int) -> None:
    """After commit, every member's sockets learn the reader's new position (receipts:
    "Read by 3 of 5" moves live). Ids and a number only."""
    members = MemberV2.objects.filter(conversation=conversation).values_list("user_id", flat=True)
    push_to_users_after_commit(members, {"type": READ_EVENT_TYPE, "conversation": conversation.pk,
                                "user": reader.pk, "seq": seq})


# --- key changes ----------------------------------------------------------------------


def notify_key_change(user_id: int, generation: int) -> None:
    """After commit, tell the user's own sockets and everyone sharing a v2 conversation
    with them that the directory has a new generation (ids and a number only; clients
    fetch the keys and judge them against their pins)."""
    contacts = set(MemberV2.objects.filter(conversation__members__user_id=user_id)
                   .values_list("user_id", flat=True).distinct())
    push_to_users_after_commit(contacts | {user_id}, {"type": KEYS_EVENT_TYPE, "user": user_id,
                                             "generation": generation})


# --- removals the server announces -----------------------------------------------------


def do_announce_departure(user, reason: str) -> list[str]:
    """A deleted or deactivated account leaves every v2 conversation: in each, one
    ``removed`` server notice takes the next seq and the account leaves the current members
    (so the next epoch must exclude it). Runs inside the caller's transaction (the account
    action), locking conversations in id order. Returns the conversation ids."""
    conversation_ids = sorted(MemberV2.objects.filter(user=user)
                              .values_list("conversation_id", flat=True))
    done = []
    with transaction.atomic():
        for conversation_id in conversation_ids:
            conversation = _locked(conversation_id)
            members = _member_ids(conversation)
            if user.pk not in members:
                continue
            MemberV2.objects.filter(conversation=conversation, user_id=user.pk).delete()
            notice = ServerNoticeV2.objects.create(
                conversation=conversation, kind=ServerNoticeV2.REMOVED, subject_id=user.pk,
                reason=reason, seq=_next_seq(conversation))
            _save(conversation)
            _announce(conversation, members - {user.pk}, [notice])
            done.append(conversation_id)
    return done
