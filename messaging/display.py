"""What a member sees of a message: decrypted with their identity, signature checked.

``MessageView`` renders stored rows or live events (the same fields) for one
viewer. Signature status:

- ``valid``: the body decrypts, the Ed25519 signature verifies with the
  sender's key of that generation, and that key is the one the viewer pinned
  (or the viewer's own unlocked key for their own current generation);
- ``unverified``: the signature verifies with a directory key the viewer has
  not accepted yet (a pending key change);
- ``invalid``: anything else (tampered ciphertext, signature, key rows). The
  text of an invalid message is never shown.

A message whose signature checks out but whose body no identity of the viewer
opens (keys reset without the recovery code) carries ``unreadable: true`` and
no content.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

import agecrypt
from accounts.models import KeyGeneration
from messaging import signing

VALID, UNVERIFIED, INVALID = "valid", "unverified", "invalid"


@dataclass(frozen=True)
class StoredFields:
    """A message's stored fields, from a row or a ``chat.message`` event."""

    id: uuid.UUID
    conversation_id: int
    seq: int
    sender_id: int | None
    sender_generation: int
    kind: str
    body: bytes | None
    signature: bytes | None
    recipient_fingerprints: tuple[str, ...]
    sent_at_ms: int
    file_size: int | None
    file_digest: bytes | None
    deleted: bool = False

    @classmethod
    def from_row(cls, m) -> StoredFields:
        return cls(m.id, m.conversation_id, m.seq, m.sender_id, m.sender_generation, m.kind,
                   bytes(m.body) if m.body is not None else None,
                   bytes(m.signature) if m.signature is not None else None,
                   tuple(m.recipient_fingerprints), m.sent_at_ms, m.file_size,
                   bytes(m.file_digest) if m.file_digest is not None else None,
                   m.deleted_at is not None or m.is_expired)

    @classmethod
    def from_event(cls, e: dict) -> StoredFields:
        return cls(uuid.UUID(e["id"]), e["conversation"], e["seq"], e["sender"],
                   e["generation"], e["kind"], e["body"], e["signature"],
                   tuple(e["fingerprints"]), e["sent_at"], e.get("file_size"),
                   e.get("file_digest"))


class SenderKeys:
    """Directory rows ``(user, generation) -> (signing key, fingerprint)``, cached per viewer."""

    def __init__(self):
        self._rows: dict[tuple[int, int], tuple[bytes, str] | None] = {}

    def get(self, user_id: int, generation: int) -> tuple[bytes, str] | None:
        key = (user_id, generation)
        if key not in self._rows:
            row = KeyGeneration.objects.filter(user_id=user_id, number=generation).first()
            self._rows[key] = ((bytes(row.signing_public_key), row.directory_fingerprint)
                               if row else None)
        return self._rows[key]

    def has(self, user_id, generation) -> bool:
        return (user_id, generation) in self._rows

    def prefetch(self, pairs) -> None:
        missing = {p for p in pairs if p not in self._rows}
        if not missing:
            return
        users = {u for u, _ in missing}
        for row in KeyGeneration.objects.filter(user_id__in=users):
            self._rows.setdefault((row.user_id, row.number),
                                  (bytes(row.signing_public_key), row.directory_fingerprint))
        for pair in missing:
            self._rows.setdefault(pair, None)

    def forget(self) -> None:
        self._rows.clear()


class MessageView:
    """Renders messages for one viewer (their unlocked identity and their pins)."""

    def __init__(self, viewer_id: int, identity_file, pins, keys: SenderKeys | None = None):
        self.viewer_id = viewer_id
        self.identity_file = identity_file
        self.pins = pins
        self.keys = keys or SenderKeys()

    def signature_status(self, fields: StoredFields) -> str:
        if fields.signature is None or fields.body is None or fields.sender_id is None:
            return INVALID
        try:
            signed = signing.SignedFields(
                message_id=fields.id, conversation_id=fields.conversation_id, seq=fields.seq,
                sender_id=fields.sender_id, sender_generation=fields.sender_generation,
                kind=fields.kind, recipient_fingerprints=fields.recipient_fingerprints,
                sent_at_ms=fields.sent_at_ms,
                body_digest=signing.age_prefix_digest(fields.body),
                metadata_digest=(hashlib.sha256(fields.body).digest()
                                 if fields.kind == "file" else None),
                file_size=fields.file_size if fields.kind == "file" else None,
                file_digest=fields.file_digest if fields.kind == "file" else None,
            )
        except signing.BodyFormatError:
            return INVALID
        own = self.identity_file
        mine = fields.sender_id == self.viewer_id
        if mine and fields.sender_generation == own.signing_generation:
            ok = signing.verify(own.signing_public_key(), fields.signature, signed)
            return VALID if ok else INVALID
        row = self.keys.get(fields.sender_id, fields.sender_generation)
        if row is None:
            return INVALID
        public_key, fingerprint = row
        if not signing.verify(public_key, fields.signature, signed):
            return INVALID
        if fields.sender_id == self.viewer_id:
            return VALID  # an older generation of the viewer's own keys
        pinned = self.pins.known_fingerprint(fields.sender_id, fields.sender_generation)
        if pinned is None:
            return UNVERIFIED
        return VALID if pinned == fingerprint else INVALID

    def render(self, fields: StoredFields) -> dict:
        """The ``message`` frame (also the API's message object)."""
        frame = {
            "type": "message",
            "conversation": fields.conversation_id,
            "id": str(fields.id),
            "seq": fields.seq,
            "sender": fields.sender_id,
            "sent_at": fields.sent_at_ms,
            "kind": fields.kind,
        }
        if fields.deleted or fields.body is None:
            frame.update(deleted=True, signature=None)
            return frame
        status = self.signature_status(fields)
        content = None
        if status != INVALID:
            try:
                content = json.loads(agecrypt.decrypt(fields.body, self.identity_file.identities))
                if not isinstance(content, dict) or content.get("v") != 1:
                    raise ValueError
            except agecrypt.NoIdentityMatchError:
                # Authentic, but encrypted to keys this viewer no longer has (a reset
                # without the recovery code): unreadable, not forged.
                frame["unreadable"] = True
            except (agecrypt.AgeError, ValueError):
                status, content = INVALID, None
        frame["signature"] = status
        if fields.kind == "file":
            frame["file"] = None if content is None else {
                "name": str(content.get("name", "")), "type": str(content.get("type", "")),
                "size": fields.file_size, "id": str(fields.id),
            }
        else:
            frame["text"] = None if content is None else str(content.get("text", ""))
        return frame
