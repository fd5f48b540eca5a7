"""Garbage filters over what clients signed: parse, shape and signature, never a decryption.

The server verifies each statement with the signer's key generation from the
directory so that garbage and forgeries never reach the record; clients stay
the judges of authority (DESIGN.md §3). The parsers are ``client/``'s own, so
the server accepts exactly the canonical bytes clients produce. Each check
raises ``Invalid`` (400 naming the field) or one of its subclasses.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from accounts.errors import Invalid
from accounts.models import KeyGeneration
from agecrypt import AgeError
from agecrypt.header import parse_header
from client import epochs, fileclaim, membership, messagebox, signing
from client.errors import BoxFormatError, ClientCryptoError, SignatureError
from messaging.v2.errors import BadSignature, UnknownKey

BOX_MAX = 49152


def directory_signing_key(user_id: int, generation: int) -> bytes | None:
    """The Ed25519 public key of ``user_id``'s key ``generation``, or None."""
    key = (KeyGeneration.objects.filter(user_id=user_id, number=generation)
           .values_list("signing_public_key", flat=True).first())
    return None if key is None else bytes(key)


class SenderCache:
    """What one connection (a websocket) may remember between its sends, to keep directory
    and access reads off the per-message path.

    ``signing_key``: a generation's key never changes once stored (a key change is a new
    generation with the next number: ``accounts.models.KeyGeneration``), so a remembered
    key cannot go stale; a new generation is a miss and is read. Misses are not
    remembered (the generation may appear). ``member_of``: conversations this user passed
    the access check for; only a hint that skips the early 404 — the send's transaction
    re-checks membership under the conversation lock and forgets the hint on a refusal.
    """

    MAX_ENTRIES = 1024

    def __init__(self):
        self._keys: dict[tuple[int, int], bytes] = {}
        self.member_of: set[str] = set()

    def signing_key(self, user_id: int, generation: int) -> bytes | None:
        found = self._keys.get((user_id, generation))
        if found is None:
            found = directory_signing_key(user_id, generation)
            if found is not None:
                if len(self._keys) >= self.MAX_ENTRIES:
                    self._keys.clear()
                self._keys[(user_id, generation)] = found
        return found

    def remember_member(self, conversation_id: str) -> None:
        if len(self.member_of) >= self.MAX_ENTRIES:
            self.member_of.clear()
        self.member_of.add(conversation_id)


def verify_by(user_id: int, generation: int, statement: bytes, signature: bytes,
              field: str, cache: SenderCache | None = None) -> None:
    """Verify with the Ed25519 key of ``user_id``'s ``generation`` from the directory
    (through ``cache`` when the caller keeps one)."""
    key = (cache.signing_key(user_id, generation) if cache is not None
           else directory_signing_key(user_id, generation))
    if key is None:
        raise UnknownKey(f"The statement names key generation {generation} of user {user_id}, "
                         "which the directory does not hold.", field=field)
    try:
        signing.verify(bytes(key), statement, signature)
    except SignatureError:
        raise BadSignature("The signature does not verify with the signer's key.",
                           field=field) from None


def check_operation(conversation_id: str, actor, statement: bytes, signature: bytes, *,
                    prefix: str = "") -> membership.Operation:
    """A canonical operation of this conversation, signed by ``actor`` (its own key)."""
    field = prefix + "statement"
    try:
        op = membership.parse_operation(statement)
    except ClientCryptoError as exc:
        raise Invalid(f"The operation is malformed: {exc}", field=field) from None
    if op.conversation_id.hex() != conversation_id:
        raise Invalid("The operation names another conversation.", field=field)
    if op.actor_id != actor.pk:
        raise Invalid("An operation is signed by the member who acts (actor_id).", field=field)
    verify_by(op.actor_id, op.actor_generation, statement, signature, prefix + "signature")
    return op


@dataclass(frozen=True)
class CheckedEpoch:
    statement: epochs.EpochStatement
    envelope: bytes
    statement_bytes: bytes
    signature: bytes


def check_epoch(conversation_id: str, creator, envelope: bytes, statement: bytes,
                signature: bytes, *, prefix: str = "") -> CheckedEpoch:
    """An epoch of this conversation by ``creator``, its envelope the one it signs.

    The envelope must be an age file with one stanza per listed member and
    within members x 1.6 KB + 4 KiB; nothing is decrypted.
    """
    field = prefix + "statement"
    try:
        parsed = epochs.parse_epoch_statement(statement)
    except ClientCryptoError as exc:
        raise Invalid(f"The epoch statement is malformed: {exc}", field=field) from None
    if parsed.conversation_id.hex() != conversation_id:
        raise Invalid("The epoch names another conversation.", field=field)
    if parsed.creator_id != creator.pk or parsed.epoch == 0:
        raise Invalid("An epoch is numbered from 1 and signed by its creator.", field=field)
    check_envelope(envelope, parsed, prefix + "envelope")
    verify_by(parsed.creator_id, parsed.creator_generation, statement, signature,
              prefix + "signature")
    return CheckedEpoch(parsed, envelope, statement, signature)


def check_envelope(envelope: bytes, parsed: epochs.EpochStatement, field: str) -> None:
    if len(envelope) > epochs.max_envelope_size(len(parsed.members)):
        raise Invalid(f"An envelope for {len(parsed.members)} members is at most "
                      f"{epochs.max_envelope_size(len(parsed.members))} bytes.", field=field)
    if hashlib.sha256(envelope).digest() != parsed.envelope_hash:
        raise Invalid("The envelope is not the one the statement signs.", field=field)
    try:
        stanzas = parse_header(io.BytesIO(envelope)).stanzas
    except (AgeError, ValueError):
        raise Invalid("The envelope is not an age file.", field=field) from None
    if len(stanzas) != len(parsed.members):
        raise Invalid("An envelope has exactly one stanza per listed member.", field=field)


def check_message(conversation_id: str, sender, box: bytes, statement: bytes,
                  signature: bytes, cache: SenderCache | None = None,
                  ) -> messagebox.MessageStatement:
    """A box of a valid size and version whose statement ``sender`` signed over it."""
    try:
        messagebox.check_box(box)
    except BoxFormatError as exc:
        raise Invalid(f"The message box is malformed: {exc}", field="box") from None
    try:
        parsed = messagebox.parse_statement(statement)
    except ClientCryptoError as exc:
        raise Invalid(f"The message statement is malformed: {exc}", field="statement") from None
    context = parsed.context
    if context.conversation_id.hex() != conversation_id or context.sender_id != sender.pk:
        raise Invalid("The statement names another conversation or sender.", field="statement")
    if parsed.box_hash != messagebox.box_hash(box):
        raise Invalid("The statement signs another box.", field="statement")
    verify_by(context.sender_id, context.sender_generation, statement, signature, "signature",
              cache)
    return parsed


FILE_KIND = "file"


def check_file_claim(conversation_id: str, sender, message: messagebox.MessageStatement,
                     statement: bytes, signature: bytes) -> fileclaim.FileClaim:
    """The file claim beside a ``file`` message (protocol.md §20): canonical, naming this
    conversation, this message's client id and its sender, signed with the sender's key
    generation from the directory. Whether the sender may name the upload is filestore's
    check (403), made when the message is stored."""
    field = "file_claim.statement"
    if message.kind != FILE_KIND:
        raise Invalid("Only a message of kind file carries a file claim.", field="file_claim")
    try:
        claim = fileclaim.parse_file_claim(statement)
    except ClientCryptoError as exc:
        raise Invalid(f"The file claim is malformed: {exc}", field=field) from None
    if (claim.conversation_id.hex() != conversation_id or claim.sender_id != sender.pk
            or claim.client_message_id != message.client_message_id):
        raise Invalid("The file claim names another conversation, message or sender.",
                      field=field)
    verify_by(claim.sender_id, claim.sender_generation, statement, signature,
              "file_claim.signature")
    return claim
