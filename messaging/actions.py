"""Every state change of messaging, one function each (API, pages, consumers call these).

Functions raise ``messaging.errors.MessagingError`` subclasses before changing
anything. Live pushes go out after commit (``messaging.events``) and never
fail the action.

For filestore: ``do_send_file_message(sender, identity_file, conversation_id,
client_id, metadata, file_size, file_digest)`` stores a file message whose
body is the encrypted metadata ``{"v": 1, "name", "type"}`` and whose
signature covers the metadata, the size and ``file_digest`` (SHA-256 of the
stored file's age header + payload nonce, ``messaging.signing.age_prefix_digest``).
The file is served under the returned message id.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

import agecrypt
from accounts.identity import parse_recipient
from accounts.models import KeyGeneration, User
from messaging import pins as pinning
from messaging import signing
from messaging.access import access_conversation, access_joined_conversation, access_message
from messaging.errors import (
    Blocked,
    EmailUnverified,
    Forbidden,
    Invalid,
    KeyChanged,
    Left,
    NotFound,
    TooBig,
)
from messaging.events import message_event, push_after_commit
from messaging.metrics import MESSAGES_SENT
from messaging.models import Block, Conversation, Membership, Message
from messaging.models.messages import truncate_to_ms
from messaging.signals import messages_tombstoned

logger = logging.getLogger(__name__)

CLIENT_ID_MAX = 64
MAX_EXPIRY_SECONDS = 365 * 24 * 3600


@functools.lru_cache(maxsize=4096)
def recipient_from_directory(text: str):
    """A parsed directory recipient (parsing a hybrid key's Bech32 costs about 1 ms)."""
    return parse_recipient(text)


_OWN_KEYS: dict[bytes, tuple[object, str]] = {}


def own_keys(identity_file) -> tuple[object, str]:
    """The unlocked identity's current recipient and fingerprint, computed once per key."""
    key = identity_file.signing_public_key() + str(identity_file.current_generation).encode()
    cached = _OWN_KEYS.get(key)
    if cached is None:
        if len(_OWN_KEYS) > 4096:
            _OWN_KEYS.clear()
        cached = _OWN_KEYS[key] = (identity_file.recipient(), identity_file.fingerprint())
    return cached


@dataclass(frozen=True)
class Sent:
    id: uuid.UUID
    seq: int
    conversation_id: int
    created: bool


# --- Validation ----------------------------------------------------------------

def clean_client_id(client_id) -> str:
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= CLIENT_ID_MAX:
        raise Invalid(f"client_id must be a string of 1 to {CLIENT_ID_MAX} characters.")
    if not client_id.isprintable():
        raise Invalid("client_id must be printable.")
    return client_id


def clean_text(text) -> str:
    if not isinstance(text, str):
        raise Invalid("The message text must be a string.")
    if not text.strip():
        raise Invalid("The message is empty.")
    if len(text.encode("utf-8", "surrogatepass")) > settings.SECURECHAT_MESSAGE_MAX_BYTES:
        raise TooBig(f"Messages are at most {settings.SECURECHAT_MESSAGE_MAX_BYTES} bytes.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("The message is not valid Unicode.") from None
    return text


def clean_email(email) -> str:
    if not isinstance(email, str) or not email.strip() or len(email) > 254:
        raise Invalid("Enter an email address.")
    return email.strip()


def clean_seq(seq) -> int:
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0 or seq > 2**62:
        raise Invalid("seq must be a non-negative integer.")
    return seq


# --- Conversations -----------------------------------------------------------------

def address_of(email) -> str:
    """The address in its stored form; 400 ``invalid`` for anything not well-formed."""
    from accounts.actions import AccountError, normalize_email

    try:
        return normalize_email(clean_email(email))
    except AccountError as exc:
        raise Invalid(str(exc)) from None


def verified_account(address: str) -> User | None:
    """The active account with this verified address, or None: one query either way.

    Unknown, unverified and inactive addresses look the same, in the answer
    and in the work done (DESIGN.md §5); only verified accounts are
    discoverable, and that is by design (docs/security.md, metadata).
    """
    return User.objects.filter(email=address, is_active=True,
                               email_verified_at__isnull=False).first()


def verified_contact(email) -> User:
    """The active user with a verified address, or NotFound (no hint which part failed)."""
    contact = verified_account(address_of(email))
    if contact is None:
        raise NotFound("No verified account has this address.")
    return contact


def do_start_conversation(user, email) -> Conversation:
    """Start (or return) the direct conversation with a verified address; rejoins if left.

    The starter's own address must be verified too: an unverified registration
    may be a squatter's, who must not write to people under an address it does
    not own (403 ``email_unverified``).
    """
    if not user.email_verified:
        raise EmailUnverified("Confirm your email address first: open the link we sent you.")
    contact = verified_contact(email)
    if contact.pk == user.pk:
        raise Invalid("You cannot start a conversation with yourself.")
    if Block.objects.between(user, contact).exists():
        raise Blocked("One of you blocked the other.")
    key = Conversation.objects.direct_key(user.pk, contact.pk)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                conversation, created = Conversation.objects.get_or_create(
                    direct_key=key, defaults={"created_by": user})
                conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
                changed = created
                for member in (user, contact):
                    membership, made = Membership.objects.get_or_create(
                        conversation=conversation, user=member)
                    if not made and not membership.is_joined:
                        membership.state = Membership.JOINED
                        membership.left_seq = None
                        membership.hidden_before_seq = max(membership.hidden_before_seq,
                                                           conversation.last_seq)
                        membership.joined_at = timezone.now()
                        membership.save()
                        changed = True
                    elif member.pk == user.pk and membership.hidden:
                        membership.hidden = False
                        membership.save(update_fields=["hidden"])
                if changed:
                    push_after_commit([user.pk, contact.pk],
                                      {"type": "chat.conversation",
                                       "conversation": conversation.pk})
                return conversation
        except IntegrityError:
            continue  # a concurrent start created it first: read theirs
    raise Invalid("Could not start the conversation; try again.")


def do_leave_conversation(user, conversation_id) -> None:
    with transaction.atomic():
        conversation = access_conversation(user, conversation_id)
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        membership = Membership.objects.get(conversation=conversation, user=user)
        if not membership.is_joined:
            return
        membership.state = Membership.LEFT
        membership.left_seq = conversation.last_seq
        membership.save(update_fields=["state", "left_seq"])
        push_after_commit(conversation.memberships.values_list("user_id", flat=True),
                          {"type": "chat.conversation", "conversation": conversation.pk})


def do_delete_conversation(user, conversation_id) -> None:
    """Delete on my side: hide the history up to now; the next message shows it again."""
    with transaction.atomic():
        conversation = access_conversation(user, conversation_id)
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        Membership.objects.filter(conversation=conversation, user=user).update(
            hidden=True, hidden_before_seq=conversation.last_seq,
            last_read_seq=conversation.last_seq)
        push_after_commit([user.pk], {"type": "chat.conversation",
                                      "conversation": conversation.pk})


def do_block(user, email) -> None:
    """Block a verified account by address; any other well-formed address is a silent no-op.

    The caller answers ``{ok}`` either way, so blocking cannot test whether an
    unverified or unknown address has an account (same answer, same query).
    """
    address = address_of(email)
    if address == user.email:
        raise Invalid("You cannot block yourself.")
    contact = verified_account(address)
    if contact is not None:
        Block.objects.get_or_create(user=user, blocked=contact)


def do_unblock(user, email) -> None:
    """Lift a block by address; one DELETE whatever the address (none is an error)."""
    Block.objects.filter(user=user, blocked__email=address_of(email)).delete()


def do_set_expiry(user, conversation_id, seconds) -> Conversation:
    """Per-conversation expiry (from send time), or None for none; shown to every member."""
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)
                                or not 1 <= seconds <= MAX_EXPIRY_SECONDS):
        raise Invalid(f"seconds must be null or an integer from 1 to {MAX_EXPIRY_SECONDS}.")
    with transaction.atomic():
        conversation = access_joined_conversation(user, conversation_id)
        Conversation.objects.filter(pk=conversation.pk).update(expiry_seconds=seconds)
        conversation.expiry_seconds = seconds
        push_after_commit(conversation.memberships.values_list("user_id", flat=True),
                          {"type": "chat.conversation", "conversation": conversation.pk})
    return conversation


def do_mark_read(user, conversation_id, seq) -> int:
    """Move the read position forward (never back); a receipt goes to the other members."""
    seq = clean_seq(seq)
    with transaction.atomic():
        conversation = access_conversation(user, conversation_id)
        membership = conversation.membership
        seq = min(seq, membership.last_visible_seq(conversation.last_seq))
        updated = Membership.objects.filter(pk=membership.pk, last_read_seq__lt=seq).update(
            last_read_seq=seq)
        if updated:
            others = conversation.memberships.joined().exclude(user=user)
            push_after_commit(others.values_list("user_id", flat=True),
                              {"type": "chat.read", "conversation": conversation.pk,
                               "user": user.pk, "seq": seq})
    return max(seq, membership.last_read_seq)


# --- Keys -----------------------------------------------------------------------

def contact_key_states(user, identity_file, conversation, pins=None) -> dict[int, str]:
    """``{contact id: pins status}`` for the other joined members; pins new/endorsed ones.

    First use pins silently; an endorsed change is accepted with an info
    notice; a ``changed`` contact stays changed until ``do_accept_key``.
    """
    rows = list(KeyGeneration.objects.current().filter(
        user_id__in=conversation.memberships.joined().exclude(user=user).values("user_id")))
    pins = pins if pins is not None else pinning.load_pins(user, identity_file)
    states = {row.user_id: pins.status(row) for row in rows}
    to_pin = [row for row in rows if states[row.user_id] in (pinning.NEW, pinning.ENDORSED)]
    if to_pin:
        def change(current):
            changed = False
            for row in to_pin:
                status = current.status(row)
                if status == pinning.NEW:
                    current.pin(row)
                    changed = True
                elif status == pinning.ENDORSED:
                    current.pin(row, endorsed=True, chain=_chain(current, row))
                    changed = True
            return changed

        updated = pinning.update_pins(user, identity_file, change)
        states = {row.user_id: updated.status(row) for row in rows}
        pins.entries, pins.reverify = updated.entries, updated.reverify
    return states


def _chain(pins, row):
    entry = pins.entry(row.user_id)
    return list(KeyGeneration.objects.filter(user_id=row.user_id,
                                             number__gt=entry["generation"],
                                             number__lt=row.number))


def do_accept_key(user, identity_file, conversation_id) -> list[int]:
    """Accept the current directory keys of every member whose keys changed; their ids."""
    conversation = access_conversation(user, conversation_id)
    rows = list(KeyGeneration.objects.current().filter(
        user_id__in=conversation.memberships.exclude(user=user).values("user_id")))
    accepted: list[int] = []

    def change(pins):
        for row in rows:
            status = pins.status(row)
            if status in (pinning.CHANGED, pinning.ENDORSED, pinning.NEW):
                pins.pin(row, endorsed=status == pinning.ENDORSED,
                         chain=_chain(pins, row) if status == pinning.ENDORSED else ())
                accepted.append(row.user_id)
        return bool(accepted)

    pinning.update_pins(user, identity_file, change)
    if accepted:
        with transaction.atomic():
            push_after_commit([user.pk], {"type": "chat.conversation",
                                          "conversation": conversation.pk})
    return accepted


# --- Sending ----------------------------------------------------------------------

def do_send_message(sender, identity_file, conversation_id, text, client_id) -> Sent:
    """Store a text message (encrypted, signed, next seq); a repeated client_id returns it."""
    client_id = clean_client_id(client_id)
    conversation = access_conversation(sender, conversation_id)
    repeat = _repeat(sender, conversation, client_id)
    if repeat is not None:
        return repeat
    text = clean_text(text)
    plaintext = json.dumps({"v": 1, "text": text}, ensure_ascii=False).encode()
    return _send(sender, identity_file, conversation, client_id, Message.TEXT, plaintext)


def do_send_file_message(sender, identity_file, conversation_id, client_id, metadata: dict,
                         file_size: int, file_digest: bytes) -> Sent:
    """Store a file message (for filestore, at upload completion); see the module docstring."""
    client_id = clean_client_id(client_id)
    conversation = access_conversation(sender, conversation_id)
    repeat = _repeat(sender, conversation, client_id)
    if repeat is not None:
        return repeat
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise Invalid("File metadata needs a name.")
    if isinstance(file_size, bool) or not isinstance(file_size, int) or file_size < 0:
        raise Invalid("file_size must be a non-negative integer.")
    if not isinstance(file_digest, bytes) or len(file_digest) != 32:
        raise Invalid("file_digest must be 32 bytes (SHA-256).")
    plaintext = json.dumps({"v": 1, "name": metadata["name"],
                            "type": str(metadata.get("type") or "")},
                           ensure_ascii=False).encode()
    return _send(sender, identity_file, conversation, client_id, Message.FILE, plaintext,
                 file_size=file_size, file_digest=file_digest)


def _repeat(sender, conversation, client_id) -> Sent | None:
    found = (Message.objects.filter(conversation=conversation, sender=sender,
                                    client_id=client_id).values_list("id", "seq").first())
    return Sent(found[0], found[1], conversation.pk, False) if found else None


def _send(sender, identity_file, conversation, client_id, kind, plaintext, *,
          file_size=None, file_digest=None) -> Sent:
    if not conversation.membership.is_joined:
        raise Left("You left this conversation.")
    pins = pinning.load_pins(sender, identity_file)
    states = contact_key_states(sender, identity_file, conversation, pins)
    changed = sorted(uid for uid, state in states.items() if state == pinning.CHANGED)
    if changed:
        raise KeyChanged("A contact's keys changed: check and accept them before sending.",
                         contacts=changed)
    with transaction.atomic():
        # The lock: the conversation row (PostgreSQL); on SQLite the IMMEDIATE
        # transaction already holds the database write lock.
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        found = (Message.objects.filter(conversation=locked, sender=sender, client_id=client_id)
                 .values_list("id", "seq").first())
        if found:
            return Sent(found[0], found[1], locked.pk, False)
        members = list(Membership.objects.filter(conversation=locked))
        if not any(m.user_id == sender.pk and m.is_joined for m in members):
            raise Left("You left this conversation.")
        others = [m.user_id for m in members if m.is_joined and m.user_id != sender.pk]
        blocks = list(Block.objects.filter(
            Q(user_id__in=others, blocked=sender) | Q(user=sender, blocked_id__in=others))
            .values_list("user_id", flat=True)) if locked.direct_key else []
        if blocks and any(uid != sender.pk for uid in blocks):
            raise Blocked("You cannot send to this contact.")
        if blocks:
            raise Blocked("You blocked this contact; unblock them to send.")
        rows = list(KeyGeneration.objects.current().filter(user_id__in=others))
        # Re-checked under the lock: keys or members may have changed since.
        stale = sorted(set(others) - {r.user_id for r in rows}
                       | {r.user_id for r in rows if pins.status(r) != pinning.OK})
        if stale:
            raise KeyChanged("A contact's keys changed: check and accept them before sending.",
                             contacts=stale)
        try:
            own_recipient, own_fingerprint = own_keys(identity_file)
            recipients = [own_recipient] + [recipient_from_directory(r.recipient)
                                            for r in rows]
            body = agecrypt.encrypt(plaintext, recipients)
        except agecrypt.AgeError:
            raise Forbidden("The members' keys cannot be combined in one message.") from None
        seq = locked.last_seq + 1
        now = timezone.now()
        message = Message(
            id=uuid.uuid4(), conversation=locked, seq=seq, sender=sender,
            sender_generation=identity_file.signing_generation, client_id=client_id,
            kind=kind, body=body,
            recipient_fingerprints=sorted([own_fingerprint]
                                          + [r.directory_fingerprint for r in rows]),
            sent_at=truncate_to_ms(now), file_size=file_size, file_digest=file_digest,
        )
        message.signature = signing.sign(identity_file.signing_key, signing.fields_of(message))
        message.save(force_insert=True)
        Conversation.objects.filter(pk=locked.pk).update(last_seq=seq, last_activity_at=now)
        Membership.objects.filter(conversation=locked, hidden=True,
                                  state=Membership.JOINED).update(hidden=False)
        Membership.objects.filter(conversation=locked, user=sender).update(last_read_seq=seq)
        push_after_commit([sender.pk, *others], message_event(message))
        transaction.on_commit(MESSAGES_SENT.labels(kind).inc)
    return Sent(message.id, seq, locked.pk, True)


# --- Deleting and expiry ------------------------------------------------------------

def _tombstone(messages: list[Message], now) -> None:
    ids = [m.pk for m in messages]
    Message.objects.filter(pk__in=ids).update(deleted_at=now, body=None, signature=None,
                                              file_digest=None)
    by_conversation: dict[int, list[Message]] = {}
    for m in messages:
        by_conversation.setdefault(m.conversation_id, []).append(m)
    for conversation_id, items in by_conversation.items():
        members = Membership.objects.filter(conversation_id=conversation_id).values_list(
            "user_id", flat=True)
        for m in items:
            push_after_commit(members, {"type": "chat.deleted", "conversation": conversation_id,
                                        "id": str(m.pk), "seq": m.seq})
    transaction.on_commit(lambda: messages_tombstoned.send(sender=Message, message_ids=ids))


def do_unsend_message(user, conversation_id, message_id) -> Message:
    """Unsend one's own message: a tombstone keeps seq, sender and time; content is gone."""
    with transaction.atomic():
        message = access_message(user, conversation_id, message_id)
        if message.sender_id != user.pk:
            raise Forbidden("You can only unsend your own messages.")
        if message.deleted_at is None:
            _tombstone([message], timezone.now())
    return message


def do_expire_messages(now=None) -> int:
    """Tombstone every message older than its conversation's expiry; how many."""
    now = now or timezone.now()
    count = 0
    for conversation in Conversation.objects.filter(expiry_seconds__isnull=False):
        cutoff = now - timedelta(seconds=conversation.expiry_seconds)
        with transaction.atomic():
            expired = list(Message.objects.alive().filter(conversation=conversation,
                                                          sent_at__lte=cutoff))
            if expired:
                _tombstone(expired, now)
                count += len(expired)
    if count:
        logger.info("expired %d messages", count)
    return count
