"""Cannot-open notices and the pin blob (protocol.md §17).

    cannot_open = statement("securechat/v2/cannot-open", conversation_id(16), u64 epoch,
                            envelope_hash(32), u64 creator_id, u64 reporter_id,
                            u64 reporter_generation, u64 client_clock_ms)
        signed by the reporter; shown against the epoch's creator.

    pins    = statement("securechat/v2/pins", u64 owner_id, u64 owner_generation,
                        u64 version, content(raw))
    content = canonical JSON {"contacts": [{"ed25519": hex(SHA-256 of key),
              "generation": n, "recipient": hex(SHA-256 of recipient), "user_id": n,
              "verified": bool}, ... sorted by user_id], "v": 2}
    blob    = age file to the owner's recipient of field(pins) || field(signature)

A client refuses a pin blob older than the newest version it has seen
(:class:`PinRollbackError`) and, when its compare-and-swap write loses,
:func:`merge` s its own pins into the stored ones and retries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import agecrypt

from . import _clock, signing
from . import fingerprints as fp
from . import statements as st
from .endorsement import Endorsed
from .errors import (
    ClientCryptoError,
    PinBlobError,
    PinRollbackError,
    UnknownKeyError,
    UsageError,
)

__all__ = [
    "CANNOT_OPEN",
    "PINS",
    "CannotOpen",
    "Pin",
    "PinSet",
    "encode_content",
    "merge",
    "open_pin_blob",
    "parse_cannot_open",
    "parse_content",
    "seal_pin_blob",
    "sign_cannot_open",
    "verify_cannot_open",
]

CANNOT_OPEN = st.Schema(
    "securechat/v2/cannot-open",
    (
        st.Field("conversation_id", st.Kind.BYTES, 16),
        st.Field("epoch", st.Kind.U64),
        st.Field("envelope_hash", st.Kind.BYTES, 32),
        st.Field("creator_id", st.Kind.U64),
        st.Field("reporter_id", st.Kind.U64),
        st.Field("reporter_generation", st.Kind.U64),
        st.Field("client_clock_ms", st.Kind.U64),
    ),
)
PINS = st.Schema(
    "securechat/v2/pins",
    (
        st.Field("owner_id", st.Kind.U64),
        st.Field("owner_generation", st.Kind.U64),
        st.Field("version", st.Kind.U64),
        st.Field("content", st.Kind.RAW),
    ),
)
KeyLookup = Callable[[int, int], "Endorsed | None"]


# --- cannot-open -------------------------------------------------------------


@dataclass(frozen=True)
class CannotOpen:
    conversation_id: bytes
    epoch: int
    envelope_hash: bytes
    creator_id: int
    reporter_id: int
    reporter_generation: int
    client_clock_ms: int = 0

    def to_bytes(self) -> bytes:
        return st.encode(CANNOT_OPEN, self.__dict__)


def parse_cannot_open(data: bytes) -> CannotOpen:
    return CannotOpen(**st.parse(CANNOT_OPEN, data))


def sign_cannot_open(key: Ed25519PrivateKey, notice: CannotOpen) -> tuple[bytes, bytes]:
    """``(statement, signature)``; a clock of 0 is taken from the clock seam."""
    if notice.client_clock_ms == 0:
        notice = replace(notice, client_clock_ms=_clock._now_ms())
    data = notice.to_bytes()
    return data, signing.sign(key, data)


def verify_cannot_open(data: bytes, signature: bytes, key_lookup: KeyLookup) -> CannotOpen:
    """The notice, if signed by the reporter's accepted key (:class:`UnknownKeyError`,
    :class:`SignatureError`, :class:`StatementError` otherwise)."""
    notice = parse_cannot_open(data)
    keys = key_lookup(notice.reporter_id, notice.reporter_generation)
    if keys is None:
        raise UnknownKeyError("no accepted key for the notice's reporter")
    signing.verify(keys.ed25519, data, signature)
    return notice


# --- pins --------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    generation: int
    fingerprints: fp.Fingerprints
    verified: bool = False


@dataclass(frozen=True)
class PinSet:
    """One version of the owner's pins. ``statement_hash`` is SHA-256 of the signed pins
    statement it was read from (empty for a set not read from a blob); remember it with the
    version to refuse another blob under a version already seen."""

    owner_id: int
    version: int
    contacts: Mapping[int, Pin]
    statement_hash: bytes = field(default=b"", compare=False)


def encode_content(contacts: Mapping[int, Pin]) -> bytes:
    """The canonical JSON of ``contacts`` (a list sorted by user id; keys sorted; no spaces)."""
    rows = []
    for user_id in sorted(contacts):
        pin = contacts[user_id]
        st.u64(user_id)  # refuses a bool, a negative or an oversized id
        st.u64(pin.generation)
        if not isinstance(pin.verified, bool):
            raise UsageError("verified is a bool")
        rows.append({"ed25519": pin.fingerprints.ed25519_hash.hex(), "generation": pin.generation,
                     "recipient": pin.fingerprints.recipient_hash.hex(), "user_id": user_id,
                     "verified": pin.verified})
    doc = {"contacts": rows, "v": 2}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("ascii")


def parse_content(data: bytes) -> dict[int, Pin]:
    """Inverse of :func:`encode_content`; :class:`PinBlobError` unless exactly canonical."""
    try:
        doc = json.loads(bytes(data).decode("ascii"))
        contacts = {
            row["user_id"]: Pin(row["generation"], fp.Fingerprints(
                bytes.fromhex(row["recipient"]), bytes.fromhex(row["ed25519"])), row["verified"])
            for row in doc["contacts"]
        }
        ok = doc["v"] == 2 and encode_content(contacts) == bytes(data)
    except (ValueError, KeyError, TypeError, AttributeError, ClientCryptoError):
        ok = False
    if not ok:
        raise PinBlobError("the pin blob content is not canonical")
    return contacts


def seal_pin_blob(key: Ed25519PrivateKey, owner: Endorsed, pins: PinSet) -> bytes:
    """The blob for ``pins``: signed with ``key`` (``owner``'s generation), encrypted to
    ``owner``'s recipient."""
    if pins.owner_id != owner.user_id:
        raise UsageError("a pin blob belongs to its owner")
    data = st.encode(PINS, {"owner_id": owner.user_id, "owner_generation": owner.generation,
                            "version": pins.version, "content": encode_content(pins.contacts)})
    plaintext = st.encode_fields([data, signing.sign(key, data)])
    return agecrypt.encrypt(plaintext, [agecrypt.parse_recipient(owner.recipient)])


def open_pin_blob(
    blob: bytes, identities: list[agecrypt.Identity], *, owner_id: int,
    key_lookup: KeyLookup, last_seen_version: int = 0, last_seen_hash: bytes | None = None,
) -> PinSet:
    """Decrypt, verify and parse the owner's pin blob.

    ``key_lookup`` gives the owner's own generations (from the identity
    file). :class:`PinBlobError` if it does not open or is malformed,
    :class:`SignatureError` / :class:`UnknownKeyError` for the signature,
    :class:`PinRollbackError` if ``version < last_seen_version``, or if it equals
    it and ``last_seen_hash`` (that version's ``statement_hash``) is another.
    """
    try:
        parts = st.split_fields(agecrypt.decrypt(bytes(blob), identities))
    except (agecrypt.AgeError, ClientCryptoError):
        raise PinBlobError("the pin blob does not open") from None
    if len(parts) != 2:
        raise PinBlobError("the pin blob is a statement and a signature")
    data, signature = parts
    values = st.parse(PINS, data)
    if values["owner_id"] != owner_id:
        raise PinBlobError("the pin blob belongs to another user")
    keys = key_lookup(owner_id, values["owner_generation"])
    if keys is None:
        raise UnknownKeyError("the pin blob is signed by a generation the owner does not have")
    signing.verify(keys.ed25519, data, signature)
    if values["version"] < last_seen_version:
        raise PinRollbackError("the pin blob is older than one this client has seen")
    statement_hash = hashlib.sha256(data).digest()
    if values["version"] == last_seen_version and last_seen_hash not in (None, statement_hash):
        raise PinRollbackError("another pin blob under a version this client has seen")
    return PinSet(owner_id, values["version"], parse_content(values["content"]), statement_hash)


def _merge_pin(local: Pin, remote: Pin) -> tuple[Pin, bool]:
    """One contact's merged pin and whether the two disagree about one generation's keys."""
    if local.generation != remote.generation:
        return max(local, remote, key=lambda p: p.generation), False
    if local.fingerprints != remote.fingerprints:
        return replace(remote, verified=False), True
    return replace(remote, verified=local.verified or remote.verified), False


def merge(local: PinSet, remote: PinSet) -> tuple[PinSet, tuple[int, ...]]:
    """Merge after a lost compare-and-swap: ``(merged, conflicts)``.

    Union of contacts; a newer generation wins; for the same keys a verified
    mark on either side survives; two different keys for one generation keep
    the stored (``remote``) one unverified and are listed in ``conflicts``
    for the caller to show. The version is one above both.
    """
    if local.owner_id != remote.owner_id:
        raise UsageError("only one owner's pin sets merge")
    contacts, conflicts = dict(remote.contacts), []
    for user_id, pin in local.contacts.items():
        if user_id in contacts:
            contacts[user_id], conflict = _merge_pin(pin, contacts[user_id])
            if conflict:
                conflicts.append(user_id)
        else:
            contacts[user_id] = pin
    version = max(local.version, remote.version) + 1
    return PinSet(remote.owner_id, version, contacts), tuple(sorted(conflicts))
