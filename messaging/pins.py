"""Contacts' keys, pinned on first use (DESIGN.md §3).

A user's pins are one JSON document, stored as an age file encrypted to the
user's current recipient and signed with the user's Ed25519 key
(``ContactPins``). Per contact::

    {"generation": n, "fingerprint": "…", "signing_key": base64,
     "known": {"1": "…", "2": "…"},            # every accepted generation
     "notice": {"from": m, "to": n, "endorsed": bool, "at": ms}}   # last change

Checking a contact's current directory row (``KeyGeneration``) against the pin:

- ``ok``: same generation and fingerprint.
- ``new``: never pinned: pin it now (trust on first use).
- ``endorsed``: newer generations, each signed by the previous one, starting
  from the pinned signing key: accepted automatically, with an info notice.
- ``changed``: anything else (an unendorsed generation, a swapped row, a pin
  blob that fails its signature): sending is refused until the user accepts.

The signing key of the pins is an Ed25519 key derived (HKDF) from the secret
of the user's oldest age identity in their identity file, generation
``signer_generation``: it survives key rotations (which keep older
generations) without re-signing. A blob that fails verification (edited, or
the user lost their old keys in a reset without the recovery code) counts as
tampered: every contact needs accepting again, none is re-pinned silently.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.db import transaction
from django.utils import timezone

import agecrypt
from accounts.identity import endorsement_message
from accounts.models import KeyGeneration
from messaging.models import ContactPins
from messaging.models.messages import to_ms

logger = logging.getLogger(__name__)

DOMAIN = b"securechat-pins-v1"
OK, NEW, ENDORSED, CHANGED = "ok", "new", "endorsed", "changed"
_CACHE: dict[tuple[int, bytes], dict] = {}
_CACHE_MAX = 2048


def _pins_key(identity_file, generation: int) -> Ed25519PrivateKey | None:
    for number, identity in identity_file.generations:
        if number == generation:
            seed = HKDF(algorithm=SHA256(), length=32, salt=b"securechat-pins-key-v1",
                        info=str(generation).encode()).derive(str(identity).encode())
            return Ed25519PrivateKey.from_private_bytes(seed)
    return None


def _oldest_generation(identity_file) -> int:
    return identity_file.generations[-1][0]


def _signed_message(user_id: int, generation: int, blob: bytes) -> bytes:
    fields = [DOMAIN, str(user_id).encode(), str(generation).encode(),
              hashlib.sha256(blob).digest()]
    return b"".join(len(f).to_bytes(4, "big") + f for f in fields)


@dataclass
class Pins:
    user_id: int
    entries: dict[str, dict] = field(default_factory=dict)
    tampered: bool = False
    # Contacts whose pins were lost to a tampered blob: never re-pinned silently.
    reverify: set[str] = field(default_factory=set)

    def entry(self, contact_id) -> dict | None:
        return self.entries.get(str(int(contact_id)))

    def known_fingerprint(self, contact_id, generation: int) -> str | None:
        entry = self.entry(contact_id)
        if entry is None:
            return None
        return entry.get("known", {}).get(str(int(generation)))

    def status(self, row: KeyGeneration, history=None) -> str:
        """How the contact's current directory row compares with the pin."""
        entry = self.entry(row.user_id)
        if entry is None:
            if self.tampered or str(int(row.user_id)) in self.reverify:
                return CHANGED
            return NEW
        if entry["generation"] == row.number and entry["fingerprint"] == row.directory_fingerprint:
            return OK
        if row.number > entry["generation"] and self._endorsed_chain(entry, row, history):
            return ENDORSED
        return CHANGED

    def _endorsed_chain(self, entry: dict, row: KeyGeneration, history) -> bool:
        if history is None:
            history = {r.number: r for r in KeyGeneration.objects.filter(
                user_id=row.user_id, number__gt=entry["generation"], number__lte=row.number)}
        history = {**history, row.number: row}
        previous_key = base64.b64decode(entry["signing_key"])
        for number in range(entry["generation"] + 1, row.number + 1):
            step = history.get(number)
            if step is None or not step.endorsement:
                return False
            message = endorsement_message(step.user_id, step.number, step.recipient,
                                          bytes(step.signing_public_key))
            try:
                Ed25519PublicKey.from_public_bytes(previous_key).verify(
                    bytes(step.endorsement), message)
            except (InvalidSignature, ValueError):
                return False
            previous_key = bytes(step.signing_public_key)
        return True

    def pin(self, row: KeyGeneration, *, endorsed: bool | None = None, chain=()) -> None:
        """Pin ``row`` as the contact's keys; ``endorsed`` None means first use (no notice)."""
        key = str(int(row.user_id))
        old = self.entries.get(key)
        known = dict(old.get("known", {})) if old else {}
        for step in chain:
            known[str(step.number)] = step.directory_fingerprint
        known[str(row.number)] = row.directory_fingerprint
        entry = {
            "generation": row.number,
            "fingerprint": row.directory_fingerprint,
            "signing_key": base64.b64encode(bytes(row.signing_public_key)).decode(),
            "known": known,
        }
        if endorsed is not None:
            entry["notice"] = {"from": old["generation"] if old else None, "to": row.number,
                               "endorsed": endorsed, "at": to_ms(timezone.now())}
        self.entries[key] = entry
        self.reverify.discard(key)

    def document(self) -> dict:
        return {"v": 1, "contacts": self.entries, "reverify": sorted(self.reverify)}


def _decode(record: ContactPins | None, identity_file) -> Pins:
    user_id = record.user_id if record else None
    if record is None:
        return Pins(user_id=user_id)
    blob, signature = bytes(record.blob), bytes(record.signature)
    cache_key = (record.user_id, hashlib.sha256(blob + signature).digest())
    cached = _CACHE.get(cache_key)
    key = _pins_key(identity_file, record.signer_generation)
    if cached is not None and key is not None:
        return _from_document(record.user_id, cached)
    try:
        if key is None:
            raise InvalidSignature
        message = _signed_message(record.user_id, record.signer_generation, blob)
        key.public_key().verify(signature, message)
        document = json.loads(agecrypt.decrypt(blob, identity_file.identities))
        pins = _from_document(record.user_id, document)
    except (InvalidSignature, ValueError, TypeError, KeyError, agecrypt.AgeError):
        logger.warning("contact pins of user %s fail verification", record.user_id)
        return Pins(record.user_id, {}, tampered=True)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[cache_key] = document
    return pins


def _from_document(user_id: int, document) -> Pins:
    if not isinstance(document, dict) or document.get("v") != 1:
        raise ValueError("unknown pins document")
    contacts = document["contacts"]
    if not isinstance(contacts, dict):
        raise ValueError("unknown pins document")
    return Pins(user_id, json.loads(json.dumps(contacts)), False,
                {str(x) for x in document.get("reverify", [])})


def load_pins(user, identity_file) -> Pins:
    record = ContactPins.objects.filter(user=user).first()
    pins = _decode(record, identity_file)
    pins.user_id = user.pk
    return pins


def co_member_ids(user) -> set[int]:
    """Everyone who shares a conversation with ``user``."""
    from messaging.models import Membership

    conversations = Membership.objects.filter(user=user).values("conversation_id")
    return set(Membership.objects.filter(conversation_id__in=conversations)
               .exclude(user=user).values_list("user_id", flat=True))


def save_pins(user, identity_file, pins: Pins) -> None:
    if pins.tampered:
        # The old pins are unreadable: every contact not re-accepted yet must be
        # accepted explicitly, never re-pinned on "first use".
        pins.reverify |= {str(uid) for uid in co_member_ids(user)} - set(pins.entries)
        pins.tampered = False
    blob = agecrypt.encrypt(json.dumps(pins.document(), sort_keys=True).encode(),
                            [identity_file.recipient()])
    generation = _oldest_generation(identity_file)
    signature = _pins_key(identity_file, generation).sign(
        _signed_message(user.pk, generation, blob))
    ContactPins.objects.update_or_create(
        user=user,
        defaults={"blob": blob, "signature": signature, "signer_generation": generation,
                  "updated_at": timezone.now()},
    )


def update_pins(user, identity_file, change) -> Pins:
    """Load, apply ``change(pins)`` (returns True when it changed something), save; atomic."""
    with transaction.atomic():
        record = ContactPins.objects.select_for_update().filter(user=user).first()
        pins = _decode(record, identity_file)
        pins.user_id = user.pk
        if change(pins):
            save_pins(user, identity_file, pins)
    return pins
