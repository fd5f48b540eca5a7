"""What the messaging client remembers between runs, per (server, account): one 0600 file.

``conversations-<16 hex>.json`` in the config directory (client._local: written
atomically, refused if others can read it) holds::

    {"user_id": n, "device_id": hex(16),           # one random id per installation
     "pins_seen": {"version": n, "hash": hex},    # refuse an older pin blob
     "emails": {"<user id>": address},            # looked up by address (`contacts` shows them)
     "conversations": {"<id>": {
         "ops": [hex op hash by index],           # the chain as verified: a rewrite is a fork
         "epochs": {"<number>": hex envelope hash},  # a second hash for a number: equivocation
         "counter": n, "prev_hash": hex,           # this device's last message in it
         "last_seq": n,                            # highest seq read (never goes back silently)
         "epoch_floor": n | absent,                # after an accepted restore: new epochs go above
         "pending": {box, statement, signature} | absent}}}  # a send not yet acknowledged

Epoch secrets are **not** stored: each run fetches the envelopes again and opens
them with the identity (it is needed anyway to sign), so nothing on this disk
opens a message without the user's password or local passphrase. Nothing here is
secret; it is integrity state (what this client already saw), so a server that
rewrites history later is caught.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from . import _local, _rand

__all__ = ["LocalState"]


class LocalState:
    """The state file of one account on one server; :meth:`save` writes it back."""

    def __init__(self, config_dir: Path, origin: str, email: str) -> None:
        key = hashlib.sha256(f"{origin} {email}".encode()).hexdigest()[:16]
        self.path = config_dir / f"conversations-{key}.json"
        self.data = _local.read_json(self.path)
        if not isinstance(self.data.get("device_id"), str):
            self.data["device_id"] = _rand._random_bytes(16).hex()
        self.data.setdefault("pins_seen", {})
        self.data.setdefault("conversations", {})

    @property
    def device_id(self) -> bytes:
        return bytes.fromhex(self.data["device_id"])

    @property
    def pins_seen(self) -> dict:
        return self.data["pins_seen"]

    def conversation(self, conversation_id: str) -> dict:
        entry = self.data["conversations"].setdefault(conversation_id, {})
        entry.setdefault("ops", [])
        entry.setdefault("epochs", {})
        entry.setdefault("counter", 0)
        entry.setdefault("prev_hash", bytes(32).hex())
        entry.setdefault("last_seq", 0)
        return entry

    def save(self) -> None:
        data = json.dumps(self.data, indent=1, sort_keys=True).encode()
        _local.write_private(self.path, data)
