"""The user's pins of contacts' keys, kept in the server's pin blob (DESIGN.md §3).

The pin blob (``GET``/``PUT /api/v1/me/pins``; protocol.md §17, client.notices)
is encrypted to and signed by its owner, so the server can neither read nor
change it; it can only withhold it or serve an older one. Against the older
one this client remembers the newest (version, statement hash) it saw, in its
local state (client.state), and refuses anything older (PinRollbackError).

Contract: :meth:`PinStore.check` pins a contact's keys on first use (trust on
first use; "new"), and answers "pinned" when they match or "changed" when the
directory now shows other keys than the pin (a key change: the caller blocks
sending and shows it). Changes are written by :meth:`PinStore.save` with the
compare-and-swap version; on a lost race it re-reads the stored blob,
:func:`client.notices.merge` s its own changes into it and retries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import replace

from . import fingerprints as fp
from . import notices
from . import statements as st
from .endorsement import Endorsed
from .errors import ApiFailure, ProtocolError
from .http import Session
from .identity import IdentityFile

RESTORE_HINT = (" (the server was probably restored from a backup: `securechat "
                "accept-restore CONVERSATION` continues from its state)")

__all__ = ["PinStore"]

PINS_PATH = "/api/v1/me/pins"
MAX_WRITE_ATTEMPTS = 4


class PinStore:
    """One owner's pin set: read from the server, checked, changed and written back."""

    def __init__(self, session: Session, identity: IdentityFile, me: Endorsed,
                 seen: dict) -> None:
        """``seen`` is the local state's mutable ``{"version", "hash"}`` record."""
        self._session, self._identity, self._me, self._seen = session, identity, me, seen
        self._pins = notices.PinSet(me.user_id, 0, {})
        self._changed: dict[int, notices.Pin] = {}
        self._load()

    def _own_keys(self, user_id: int, generation: int) -> Endorsed | None:
        return self._me if (user_id, generation) == (self._me.user_id,
                                                    self._me.generation) else None

    def _fetch(self) -> notices.PinSet:
        answer = self._session.get(PINS_PATH)
        blob = answer.get("blob") if isinstance(answer, dict) else None
        if blob is None:
            if int(self._seen.get("version", 0)) > 0:
                raise notices.PinRollbackError("the server no longer has the pin blob this "
                                               f"client has seen{RESTORE_HINT}")
            return notices.PinSet(self._me.user_id, 0, {})
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ProtocolError("the pin blob is not base64") from None
        seen_hash, seen_version = self._seen.get("hash"), int(self._seen.get("version", 0))
        try:
            pins = notices.open_pin_blob(
                raw, self._identity.identities, owner_id=self._me.user_id,
                key_lookup=self._own_keys, last_seen_version=seen_version,
                last_seen_hash=bytes.fromhex(seen_hash) if seen_hash else None)
        except notices.PinRollbackError as exc:
            older = notices.open_pin_blob(raw, self._identity.identities,
                                          owner_id=self._me.user_id, key_lookup=self._own_keys)
            if older.version < seen_version:  # an earlier state, not a fork: a restore
                raise notices.PinRollbackError(f"{exc}{RESTORE_HINT}") from None
            raise
        self._seen.update({"version": pins.version, "hash": pins.statement_hash.hex()})
        return pins

    def _load(self) -> None:
        self._pins = self._fetch()
        self._saved_contacts = frozenset(self._pins.contacts)

    @property
    def version(self) -> int:
        """The version of the pin set held (0 before the first write)."""
        return self._pins.version

    def get(self, user_id: int) -> notices.Pin | None:
        return self._pins.contacts.get(user_id)

    def check(self, keys: Endorsed) -> str:
        """``"new"`` (now pinned), ``"pinned"`` (matches) or ``"changed"`` (differs)."""
        pin = self.get(keys.user_id)
        prints = fp.of(keys)
        if pin is None:
            self._set(keys.user_id, notices.Pin(keys.generation, prints))
            return "new"
        if (pin.generation, pin.fingerprints) == (keys.generation, prints):
            return "pinned"
        return "changed"

    def forget_new(self, user_id: int) -> None:
        """Drop a pin made in this run and not yet saved (it turned out to be disputed)."""
        if user_id in self._changed and user_id not in self._saved_contacts:
            del self._changed[user_id]
            contacts = dict(self._pins.contacts)
            contacts.pop(user_id, None)
            self._pins = replace(self._pins, contacts=contacts)

    @property
    def contacts(self) -> dict[int, notices.Pin]:
        """Every pinned contact (user id to pin), this run's unsaved changes included."""
        return dict(self._pins.contacts)

    def accept(self, keys: Endorsed) -> None:
        """Pin ``keys`` in place of the pin they contradict, unverified (the user accepted
        a key change without comparing the safety number: the old mark was for other keys)."""
        self._set(keys.user_id, notices.Pin(keys.generation, fp.of(keys)))

    def verified(self, user_id: int) -> bool:
        pin = self.get(user_id)
        return bool(pin and pin.verified)

    def mark_verified(self, keys: Endorsed) -> None:
        """Pin ``keys`` (replacing an older pin: the user compared the safety number of
        these keys) and mark them verified."""
        self._set(keys.user_id, notices.Pin(keys.generation, fp.of(keys), verified=True))

    def _set(self, user_id: int, pin: notices.Pin) -> None:
        self._changed[user_id] = pin
        self._pins = replace(self._pins, contacts={**self._pins.contacts, user_id: pin})

    def save(self) -> None:
        """Write the changes, if any, by compare-and-swap; merge and retry on a conflict."""
        attempts = 0
        while self._changed:
            attempts += 1
            version = self._pins.version + 1
            pins = replace(self._pins, version=version)
            blob = notices.seal_pin_blob(self._identity.signing_key, self._me, pins)
            try:
                self._session.request("PUT", PINS_PATH, {
                    "version": version, "blob": base64.b64encode(blob).decode()})
            except ApiFailure as exc:
                if exc.code != "version_conflict" or attempts >= MAX_WRITE_ATTEMPTS:
                    raise
                stored = self._fetch()
                local = notices.PinSet(self._me.user_id, stored.version, self._changed)
                merged, _conflicts = notices.merge(local, stored)
                self._pins = replace(merged, version=stored.version)
                continue
            self._seen.update({"version": version, "hash": _statement_hash(self._me, pins)})
            self._pins = replace(self._pins, version=version)
            self._changed = {}


def _statement_hash(owner: Endorsed, pins: notices.PinSet) -> str:
    """SHA-256 of the pins statement :func:`client.notices.seal_pin_blob` signed (hex): what
    this client remembers to refuse another blob under the same version."""
    data = st.encode(notices.PINS, {"owner_id": owner.user_id,
                                    "owner_generation": owner.generation,
                                    "version": pins.version,
                                    "content": notices.encode_content(pins.contacts)})
    return hashlib.sha256(data).hexdigest()
