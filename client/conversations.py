"""The messaging engine of the CLI: v2 conversations verified end to end (DESIGN.md §3, §5).

:class:`Messenger` speaks the API of docs/api.md "Version 2 conversations" and
trusts the server for nothing it can check:

- keys come from ``…/keys`` (the directory by user id) and are pinned on first
  use in the pin blob (client.pins); a pinned contact whose keys change is a
  *key change*: shown, and sending to that conversation is refused;
- :meth:`Messenger.load` verifies the membership chain from ``create``
  (client.membership: signatures, authority, gaps, repeats, forks) and compares it
  with the operations this client verified before (a rewrite is a fork), then
  verifies and opens every epoch (client.epochs) and records its hash (a second
  hash for one number is equivocation), then reads the timeline in seq order,
  opening each message in the context this client builds from its own state and
  running client.timeline's checks (missing, history differs, clock skew, …);
- epoch secrets stay in memory (client.state says why), so every run re-opens the
  envelopes with the identity;
- :meth:`Messenger.send_text` decides whether a new epoch is due (client.epochs
  ``epoch_due``), seals, signs (device counter, previous hash, ``seen``) and sends
  over HTTP; the signed body is kept in the local state until acknowledged and
  resent unchanged on retry, so a lost answer never makes two messages.

Problems the server could cause are *alerts* on a :class:`Conversation` (shown by
``read``; any alert blocks sending) or typed errors when nothing can be trusted
(:class:`ChainRefused`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import _rand, actions, epochs, fileclaim, filemessage, membership, messagebox
from . import timeline as tl
from .endorsement import Endorsed
from .errors import ApiFailure, ClientCryptoError, ProtocolError, UsageError
from .http import Session
from .identity import IdentityFile
from .pins import PinStore
from .state import LocalState

__all__ = ["ChainRefused", "Conversation", "Entry", "Messenger", "SendRefused",
           "ServerRestored"]

BASE = "/api/v1/v2/conversations"
MAX_RETRIES = 3


class ChainRefused(ClientCryptoError):
    """The membership chain does not verify (unsigned, forged, forked or rewritten)."""

    code = "chain_refused"


class ServerRestored(ClientCryptoError):
    """The server shows an older state of a conversation than this client saw before: a
    shorter chain, fewer messages or fewer epochs (most likely a restore from a backup).
    Nothing is shown or sent until the user accepts (:meth:`Messenger.accept_restore`)."""

    code = "server_restored"


class SendRefused(ClientCryptoError):
    """Sending is blocked: an alert on the conversation (key change, equivocation, …)."""

    code = "send_refused"


def _b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode()


def _unb64(value, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ProtocolError(f"{what} is not base64") from None


def _unb64url(value, what: str) -> bytes:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} is missing")
    return _unb64(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4), what)


def endorsed_from_directory(user_id: int, generation: dict) -> Endorsed:
    """A directory generation (``{number, recipient, signing_key}``) as :class:`Endorsed`."""
    try:
        keys = Endorsed(user_id, int(generation["number"]), str(generation["recipient"]),
                        _unb64url(generation["signing_key"], "signing_key"))
        keys.to_bytes()  # refuses a malformed recipient or key size
    except (KeyError, TypeError, ValueError, ClientCryptoError):
        raise ProtocolError("the key directory's answer is malformed") from None
    return keys


@dataclass
class KeyBook:
    """Everyone's keys as the server listed them, filtered through this client's pins."""

    me: Endorsed
    pins: PinStore
    emails: dict[int, str] = field(default_factory=dict)
    by_generation: dict[tuple[int, int], Endorsed] = field(default_factory=dict)
    current: dict[int, Endorsed] = field(default_factory=dict)
    changed: set[int] = field(default_factory=set)

    def add(self, user_id: int, email: str | None, generations: list) -> None:
        if email:
            self.emails[user_id] = email
        if user_id == self.me.user_id or not generations:
            return
        for raw in generations:
            keys = endorsed_from_directory(user_id, raw)
            self.by_generation[(user_id, keys.generation)] = keys
        self.current[user_id] = endorsed_from_directory(user_id, generations[0])
        if self.pins.check(self.current[user_id]) == "changed":
            self.changed.add(user_id)

    def lookup(self, user_id: int, generation: int) -> Endorsed | None:
        """Keys to verify with: never keys that contradict the pin of that generation."""
        if user_id == self.me.user_id:
            return self.me if generation == self.me.generation else None
        keys = self.by_generation.get((user_id, generation))
        pin = self.pins.get(user_id)
        if keys is not None and pin is not None and pin.generation == generation:
            if epochs.MemberEntry.of(keys).fingerprints != pin.fingerprints:
                return None
        return keys

    def name(self, user_id: int) -> str:
        return self.emails.get(user_id, f"user {user_id}")


@dataclass
class Entry:
    """One line of a conversation's history: a message, or an event ("Alice added Carol")."""

    seq: int
    sender: str
    text: str | None = None
    event: str | None = None
    failure: str | None = None
    warnings: list[str] = field(default_factory=list)
    file: filemessage.FileDocument | None = None  # a file message's document
    time: int = 0  # the server's time of the item, ms since the epoch (the server's word)


@dataclass
class Conversation:
    """A loaded, verified conversation (everything this client holds about it)."""

    id: str
    kind: str
    unread: int
    keys: KeyBook
    chain: membership.MembershipChain
    statements: dict[int, epochs.EpochStatement] = field(default_factory=dict)
    secrets: dict[int, bytes] = field(default_factory=dict)
    name: str = ""
    departed: set[int] = field(default_factory=set)
    alerts: list[str] = field(default_factory=list)  # shown; each one blocks sending
    notes: list[str] = field(default_factory=list)  # shown; the next send repairs them
    unopenable: set[int] = field(default_factory=set)  # epochs listing me that I cannot open
    # Members the server lists that no signed operation added (shown as unconfirmed; no
    # epoch encrypts to them, and their read positions count for nothing), and the
    # read positions of the members the chain confirms: both from the conversation list.
    unconfirmed: set[int] = field(default_factory=set)
    read_positions: dict[int, int] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    # The hash (hex) of each text, reply and file message read here -> (seq, sender id):
    # what replies, edits and reactions name (client.actions).
    targets: dict[str, tuple[int, int]] = field(default_factory=dict)
    timeline: tl.Timeline = field(default_factory=tl.Timeline)
    last_seq: int = 0
    seen: tuple[int, bytes] = (0, bytes(32))
    my_counter: int = 0
    my_prev: bytes = bytes(32)

    @property
    def raw_id(self) -> bytes:
        return bytes.fromhex(self.id)

    @property
    def members(self) -> list[int]:
        return sorted(set(self.chain.state.members) - self.departed)

    @property
    def latest(self) -> epochs.EpochStatement | None:
        return self.statements[max(self.statements)] if self.statements else None

    def read_by(self, seq: int) -> tuple[int, int]:
        """``(n, m)`` of "Read by n of m" for one's own message at ``seq``: of the other
        members the verified chain confirms, how many have read up to it."""
        others = [u for u in self.members if u != self.keys.me.user_id]
        return sum(self.read_positions.get(u, 0) >= seq for u in others), len(others)

    def title(self) -> str:
        if self.name:
            return self.name
        others = [self.keys.name(u) for u in self.members if u != self.keys.me.user_id]
        return ", ".join(others) or "(only you)"


class Messenger:
    """One logged-in account's conversations on one server."""

    def __init__(self, session: Session, identity: IdentityFile, state: LocalState,
                 user_id: int) -> None:
        self.session, self.identity, self.state = session, identity, state
        self.me = Endorsed(user_id, identity.current_generation, identity.recipient(),
                           identity.signing_public_key())
        self.pins = PinStore(session, identity, self.me, state.pins_seen)

    # --- directory -------------------------------------------------------------

    def lookup_email(self, email: str, *, refuse_changed: bool = True) -> Endorsed:
        """The current keys of a verified address, checked against the pin (pinned if new);
        :class:`SendRefused` when they differ from the pin, unless ``refuse_changed`` is
        false (the safety number is how the user looks at new keys)."""
        if not isinstance(email, str) or "@" not in email:
            raise UsageError(f"not an email address: {email!r}")
        from urllib.parse import quote

        answer = self.session.get(f"/api/v1/directory?email={quote(email)}")
        user_id, generations = answer.get("id"), answer.get("key_generations")
        if not isinstance(user_id, int) or not isinstance(generations, list) or not generations:
            raise ProtocolError("the key directory's answer is malformed")
        keys = endorsed_from_directory(user_id, generations[0])
        # The pin blob names contacts by id only: remember the address the user gave.
        self.state.data.setdefault("emails", {})[str(user_id)] = email
        changed = user_id != self.me.user_id and self.pins.check(keys) == "changed"
        if changed and refuse_changed:
            raise SendRefused(f"the keys of {email} changed since you pinned them: compare "
                              f"the safety number (securechat verify {email}), or accept "
                              f"them (securechat accept-key {email}), before writing")
        return keys

    def contact_emails(self) -> dict[int, str]:
        """Addresses of the pinned contacts: the ones this client looked up, else as the
        server lists the members of this user's conversations (display only)."""
        known = {int(u): e for u, e in self.state.data.get("emails", {}).items()}
        missing = set(self.pins.contacts) - set(known)
        for item in self.list() if missing else []:
            for user in self.session.get(f"{BASE}/{item['id']}/keys").get("users", []):
                if user.get("id") in missing and isinstance(user.get("email"), str):
                    known[user["id"]] = user["email"]
        return known

    # --- listing and loading ---------------------------------------------------

    def list(self) -> list[dict]:
        answer = self.session.get(BASE)
        items = answer.get("conversations") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise ProtocolError("the conversation list is malformed")
        return items

    def load(self, conversation_id: str, *, kind: str = "group", unread: int = 0
             ) -> Conversation:
        """Fetch and verify the conversation: keys, chain, epochs, then the timeline."""
        path = f"{BASE}/{conversation_id}"
        book = KeyBook(self.me, self.pins)
        for user in self.session.get(f"{path}/keys").get("users", []):
            book.add(int(user["id"]), user.get("email"), user.get("key_generations") or [])
        chain_answer = self.session.get(f"{path}/members")
        chain = self._verify_chain(conversation_id, chain_answer.get("operations", []), book)
        conv = Conversation(conversation_id, kind, unread, book, chain)
        self._check_keys(conv)
        items = self._timeline(path)
        self._check_not_older(conversation_id, items)
        epoch_seq = {i["number"]: i["seq"] for i in items if i.get("type") == "epoch"}
        notices = [(i["seq"], i["user"]) for i in items if i.get("type") == "notice"]
        self._open_epochs(conv, path, epoch_seq, notices)
        for item in items:
            self.ingest(conv, item)
        self.pins.save()
        self.state.save()
        return conv

    def _check_not_older(self, conversation_id: str, items: list[dict]) -> None:
        """:class:`ServerRestored` when the timeline ends before what this client read, or
        lacks an epoch it saw (the chain is checked in :meth:`_verify_chain`)."""
        stored = self.state.conversation(conversation_id)
        last = max((i["seq"] for i in items if isinstance(i.get("seq"), int)), default=0)
        if last < stored["last_seq"]:
            raise _restored(conversation_id, f"seq {last}, this client read up to seq "
                            f"{stored['last_seq']}")
        numbers = {i.get("number") for i in items if i.get("type") == "epoch"}
        missing = sorted(int(n) for n in stored["epochs"] if int(n) not in numbers)
        if missing:
            raise _restored(conversation_id, f"no epoch {missing[-1]}, which this client "
                            "opened before")

    def accept_restore(self, conversation_id: str) -> dict:
        """The user accepts the server's older state: this client forgets what the server
        no longer has (keeping everything it still has, to catch a fork later) and its
        next send starts an epoch numbered above every one it saw. The counts dropped."""
        stored = self.state.conversation(conversation_id)
        path = f"{BASE}/{conversation_id}"
        ops = self.session.get(f"{path}/members").get("operations", [])
        items = self._timeline(path)
        hashes = [membership.operation_hash(_unb64(op.get("statement"), "operation")).hex()
                  for op in ops]
        if stored["ops"][: len(hashes)] != hashes:
            raise ChainRefused("the server's chain is not an earlier state of the one this "
                               "client saw: a fork, not a restore")
        numbers = {str(i.get("number")) for i in items if i.get("type") == "epoch"}
        last = max((i["seq"] for i in items if isinstance(i.get("seq"), int)), default=0)
        dropped = {"operations": len(stored["ops"]) - len(hashes),
                   "epochs": len(set(stored["epochs"]) - numbers),
                   "seqs": max(0, stored["last_seq"] - last)}
        highest = max([int(n) for n in stored["epochs"]] + [stored.get("epoch_floor", 0)])
        stored.update(ops=hashes, last_seq=min(stored["last_seq"], last), epoch_floor=highest,
                      epochs={n: h for n, h in stored["epochs"].items() if n in numbers})
        stored.pop("pending", None)  # a send the restored server never acknowledged
        self.state.save()
        return dropped

    def load_listed(self, listed: dict) -> Conversation:
        """:meth:`load` with the list's kind, unread count and read positions (metadata the
        server keeps); members the list names but the chain does not are unconfirmed."""
        conv = self.load(listed["id"], kind=str(listed.get("kind")),
                         unread=int(listed.get("unread", 0)))
        listed_members = {int(u) for u in listed.get("members") or []}
        conv.unconfirmed = listed_members - set(conv.members)
        positions = listed.get("read_positions") or {}
        conv.read_positions = {int(u): int(seq) for u, seq in positions.items()
                               if int(u) in conv.members}
        return conv

    def _check_keys(self, conv: Conversation) -> None:
        """Key changes of members, and first-seen keys that differ from the ones the adding
        admin vouched for (the server handed someone a wrong key): alerts, not pins."""
        book, state = conv.keys, conv.chain.state
        for user_id in sorted(set(state.members) - {self.me.user_id}):
            member, keys = state.members[user_id], book.current.get(user_id)
            if user_id in book.changed:
                conv.alerts.append(f"key change: {book.name(user_id)} has new keys "
                                   "(compare the safety number: securechat verify; or "
                                   "securechat accept-key)")
            elif (keys is not None and keys.generation == member.generation
                  and epochs.MemberEntry.of(keys).fingerprints != member.fingerprints):
                self.pins.forget_new(user_id)
                book.changed.add(user_id)
                conv.alerts.append(
                    f"the server's keys for {book.name(user_id)} differ from the ones "
                    f"{book.name(member.vouched_by)} vouched for")

    def _timeline(self, path: str) -> list[dict]:
        items, after = [], 0
        while True:
            page = self.session.get(f"{path}/timeline?after={after}")
            batch = page.get("items") or []
            items.extend(batch)
            if not batch or batch[-1]["seq"] >= page.get("last_seq", 0):
                return items
            after = batch[-1]["seq"]

    def _verify_chain(self, conversation_id: str, operations: list,
                      book: KeyBook) -> membership.MembershipChain:
        pairs = [(_unb64(op.get("statement"), "operation"), _unb64(op.get("signature"),
                                                                  "signature"))
                 for op in operations]
        try:
            chain = membership.MembershipChain.replay(pairs, book.lookup)
        except ClientCryptoError as exc:
            changed = ", ".join(book.name(u) for u in sorted(book.changed))
            why = f"; keys changed: {changed}" if changed else ""
            raise ChainRefused(f"the membership chain of {conversation_id[:8]} does not verify "
                               f"({exc}{why}); the server may be lying") from None
        if not chain.operations or chain.operations[0].conversation_id.hex() != conversation_id:
            raise ChainRefused("the membership chain belongs to another conversation")
        hashes = [membership.operation_hash(data).hex() for data, _ in pairs]
        known = self.state.conversation(conversation_id)["ops"]
        if len(hashes) < len(known) and known[: len(hashes)] == hashes:
            raise _restored(conversation_id, f"{len(hashes)} membership operations, this "
                            f"client saw {len(known)}")
        if hashes[: len(known)] != known:
            raise ChainRefused(f"the membership chain of {conversation_id[:8]} differs from the "
                               "one this client verified before (a fork)")
        self.state.conversation(conversation_id)["ops"] = hashes
        return chain

    # --- epochs ----------------------------------------------------------------

    def _fetch_epochs(self, path: str) -> list[dict]:
        out, after = [], 0
        while True:
            batch = self.session.get(f"{path}/epochs?after={after}").get("epochs") or []
            out.extend(batch)
            if not batch:
                return out
            after = batch[-1]["number"]

    def _open_epochs(self, conv: Conversation, path: str, epoch_seq: dict,
                     notices: list[tuple[int, int]]) -> None:
        remembered = self.state.conversation(conv.id)["epochs"]
        previous = None
        for item in self._fetch_epochs(path):
            envelope = _unb64(item.get("envelope"), "envelope")
            data = _unb64(item.get("statement"), "epoch statement")
            signature = _unb64(item.get("signature"), "epoch signature")
            number = item.get("number")
            try:
                statement = epochs.parse_epoch_statement(data)
            except ClientCryptoError:
                conv.alerts.append(f"epoch {number} is malformed")
                continue
            name = statement.envelope_hash.hex()
            first = remembered.setdefault(str(statement.epoch), name)
            if first != name or statement.epoch != number:
                conv.alerts.append(f"equivocation: two envelopes for epoch {statement.epoch} "
                                   "(the server showed another one before); sending is blocked")
                continue
            seq = epoch_seq.get(statement.epoch, 0)
            departed = {user for s, user in notices if s < seq}
            self._open_one(conv, envelope, data, signature, statement, previous, departed)
            previous = statement
        conv.departed = {user for _, user in notices}

    def _open_one(self, conv, envelope, data, signature, statement, previous, departed) -> None:
        conv.statements[statement.epoch] = statement
        if statement.entry(self.me.user_id) is None:
            try:  # not a member of this epoch: check what can be checked, open nothing
                epochs.open_epoch(envelope, data, signature, me=self.me,
                                  identity=self.identity.current_identity, chain=conv.chain,
                                  key_lookup=conv.keys.lookup, previous=previous,
                                  departed=departed)
            except epochs.NotMyKey:
                return
            except ClientCryptoError as exc:
                conv.alerts.append(f"epoch {statement.epoch} does not verify ({exc})")
                return
        creator = conv.keys.name(statement.creator_id)
        try:
            opened = epochs.open_epoch(
                envelope, data, signature, me=self.me, identity=self.identity.current_identity,
                chain=conv.chain, key_lookup=conv.keys.lookup, previous=previous,
                departed=departed)
        except (epochs.NotMyKey, epochs.CannotOpenError) as exc:
            # Signed, and it follows the previous epoch, but not for me: shown against its
            # creator, and the next send makes a replacement epoch (DESIGN.md §3).
            conv.unopenable.add(statement.epoch)
            conv.notes.append(f"epoch {statement.epoch} by {creator} does not open for you "
                              f"({exc}); your next message makes a replacement epoch")
            return
        except ClientCryptoError as exc:
            conv.alerts.append(f"epoch {statement.epoch} by {creator} cannot be used ({exc})")
            return
        conv.secrets[statement.epoch] = opened.secret
        conv.name = opened.name

    # --- the timeline ----------------------------------------------------------

    def ingest(self, conv: Conversation, item: dict) -> Entry | None:
        """Take the next timeline item (in seq order); the entry to show, if any."""
        seq = item.get("seq")
        if not isinstance(seq, int) or seq <= conv.last_seq:
            return None  # already taken: every item once
        conv.last_seq = seq
        kind = item.get("type")
        entry = None
        if kind == "operation":
            entry = self._ingest_operation(conv, item)
        elif kind == "epoch":
            known = conv.statements.get(item.get("number"))
            if known is None or known.envelope_hash.hex() != item.get("envelope_hash"):
                conv.alerts.append(f"equivocation: the timeline names another envelope for "
                                   f"epoch {item.get('number')}; sending is blocked")
            else:
                conv.timeline.note(seq, known.envelope_hash)
        elif kind == "notice":
            conv.departed.add(item.get("user"))
            who = conv.keys.name(item.get("user"))
            entry = Entry(seq, "server",
                          event=f"the server says {who} left ({item.get('reason')})")
        elif kind == "message":
            entry = self._ingest_message(conv, item)
        elif kind == "tombstone":
            entry = self._ingest_tombstone(conv, item)
        if entry is not None:
            server_time = item.get("server_time")
            entry.time = server_time if type(server_time) is int else 0
            conv.entries.append(entry)
        return entry

    def _ingest_operation(self, conv: Conversation, item: dict) -> Entry:
        index = item.get("index")
        ops = conv.chain.operations
        op_hash = self.state.conversation(conv.id)["ops"]
        if (not isinstance(index, int) or index >= len(ops)
                or op_hash[index] != item.get("op_hash")):
            conv.alerts.append("the timeline shows an operation the chain does not "
                               f"(seq {item['seq']})")
            return Entry(item["seq"], "server", failure="an unverified membership operation")
        digest = bytes.fromhex(op_hash[index])
        conv.timeline.note(item["seq"], digest)
        line = membership.describe(ops[index], conv.keys.name)
        return Entry(item["seq"], conv.keys.name(ops[index].actor_id), event=line)

    def _ingest_message(self, conv: Conversation, item: dict) -> Entry:
        seq, sender = item["seq"], item.get("sender")
        entry = Entry(seq, conv.keys.name(sender))
        try:
            received, text, entry.file, doc = self._open_message(conv, item)
        except ClientCryptoError as exc:
            entry.failure = f"this message failed verification ({exc})"
            return entry
        if received.unsend_target is not None:
            entry.event = f"{entry.sender} took back a message"
        elif doc.get("type") in actions.TYPES:
            entry.text, entry.event = actions.describe(doc, sender, conv.targets,
                                                       conv.keys.name)
        else:
            entry.text = text
        if doc.get("type") in ("text", "reply", filemessage.FILE_KIND):
            conv.targets[received.message_hash.hex()] = (seq, sender)
        for finding in conv.timeline.add(received):
            entry.warnings.append(tl.describe(finding, conv.keys.name))
        conv.seen = (seq, received.message_hash)
        s = received.statement
        if sender == self.me.user_id and s.context.device_id == self.state.device_id:
            if s.context.device_counter > conv.my_counter:
                conv.my_counter, conv.my_prev = s.context.device_counter, received.message_hash
        return entry

    def _open_message(self, conv: Conversation, item: dict
                      ) -> tuple[tl.Received, str, filemessage.FileDocument | None, dict]:
        """Open and verify in the context this client builds from its own state: the
        timeline item, the text to show, for a file message its document, and the
        opened document."""
        number, sender = item.get("epoch"), item.get("sender")
        statement = conv.statements.get(number)
        secret = conv.secrets.get(number)
        if statement is None or secret is None:
            raise epochs.EpochError(f"epoch {number} is not one this client can open")
        member = statement.entry(sender) if isinstance(sender, int) else None
        if member is None:
            raise epochs.EpochError("the sender is not a member of the message's epoch")
        try:
            device_id = bytes.fromhex(item["device_id"])
            context = messagebox.MessageContext(conv.raw_id, number, statement.envelope_hash,
                                                sender, member.generation, device_id,
                                                int(item["counter"]))
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("the message item is malformed") from None
        keys = conv.keys.lookup(sender, member.generation)
        if keys is None:
            raise epochs.UnknownKeyError("no accepted key for the sender")
        box = _unb64(item.get("box"), "box")
        data = _unb64(item.get("statement"), "statement")
        verified = messagebox.verify_statement(
            keys.ed25519, data, _unb64(item.get("signature"), "signature"),
            context=context, box=box)
        doc = messagebox.parse_plaintext(messagebox.open_box(secret, context, box))
        file_doc = None
        if (doc.get("type") == filemessage.FILE_KIND) != (verified.kind == filemessage.FILE_KIND):
            # The server checks a file claim only beside kind "file": a file document
            # signed as anything else could name an upload nobody claimed for it.
            raise messagebox.BoxFormatError("the message's kind and its content disagree")
        if file_doc is None and verified.kind == filemessage.FILE_KIND:
            file_doc = filemessage.parse(doc)
            doc = {"type": "text", "text": f"[file] {filemessage.safe_name(file_doc.name)} "
                                           f"({file_doc.size} bytes)"}
        actions.check(doc, verified.kind)
        text = (doc.get("text") if doc.get("type") in ("text", "reply")
                else f"({doc.get('type')} message)")
        if not isinstance(text, str):
            raise messagebox.BoxFormatError("a text message without text")
        target = None
        if doc.get("type") == "unsend" and verified.kind == "unsend":
            try:
                target = bytes.fromhex(doc["target"])
            except (KeyError, TypeError, ValueError):
                raise messagebox.BoxFormatError("an unsend without a target hash") from None
            if len(target) != 32:
                raise messagebox.BoxFormatError("an unsend without a target hash")
        received = tl.Received(item["seq"], int(item.get("server_time", 0)), verified,
                               messagebox.message_hash(data), unsend_target=target)
        return received, text, file_doc, doc

    def _ingest_tombstone(self, conv: Conversation, item: dict) -> Entry:
        """A removed message (seq, sender, time and its statement stay; no box). Believed only
        when a signed unsend or the chain's expiry explains it (:meth:`unexplained`)."""
        seq, sender = item["seq"], item.get("sender")
        if not isinstance(sender, int):
            raise ProtocolError("the tombstone item is malformed")
        try:  # the hash of the statement the sender signed, as a signed unsend names it
            conv.timeline.note(seq, messagebox.message_hash(_unb64(item.get("statement"), "s")))
        except ProtocolError:
            pass
        conv.timeline.add(tl.Tombstone(seq, int(item.get("server_time", 0)), sender))
        return Entry(seq, conv.keys.name(sender),
                     event=f"a message from {conv.keys.name(sender)} was removed "
                           f"(the server says: {item.get('reason')})")

    def unexplained(self, conv: Conversation) -> list[str]:
        """Findings after sync: tombstones no signed unsend or the chain's expiry explains."""
        expiry = conv.chain.state.expiry_seconds
        return [tl.describe(f, conv.keys.name)
                for f in conv.timeline.unexplained_tombstones(expiry_seconds=expiry)]

    # --- writing ---------------------------------------------------------------

    def mark_read(self, conv: Conversation) -> None:
        if conv.last_seq:
            self.session.post(f"{BASE}/{conv.id}/read", {"seq": conv.last_seq})
        self.state.conversation(conv.id)["last_seq"] = conv.last_seq
        self.state.save()

    def _sign_operation(self, conv: Conversation, kind: str,
                        target: Endorsed | None = None) -> tuple[bytes, bytes]:
        state = conv.chain.state
        extra: dict = {}
        if kind == "add":
            entry = epochs.MemberEntry.of(target)
            extra = {"target_id": target.user_id, "target_generation": target.generation,
                     "target_recipient_hash": entry.fingerprints.recipient_hash,
                     "target_ed25519_hash": entry.fingerprints.ed25519_hash}
        elif kind == "remove":
            extra = {"target_id": target.user_id}
        op = membership.Operation(conv.raw_id, state.index + 1, state.head, self.me.user_id,
                                  self.me.generation, kind, **extra)
        return membership.sign_operation(self.identity.signing_key, op)

    def _member_keys(self, conv: Conversation, members: Iterable[int]) -> list[Endorsed]:
        out = []
        for user_id in sorted(members):
            if user_id == self.me.user_id:
                out.append(self.me)
                continue
            keys = conv.keys.current.get(user_id)
            if keys is None or user_id in conv.keys.changed:
                raise SendRefused(f"no accepted keys for {conv.keys.name(user_id)}")
            out.append(keys)
        return out

    def _build_epoch(self, conv: Conversation, members: Iterable[int], chain_head: bytes,
                     name: str | None = None) -> dict:
        latest = conv.latest
        envelope, data, signature, _ = epochs.build_epoch(
            self.identity.signing_key, self.me, conversation_id=conv.raw_id,
            # After an accepted restore, above every epoch this client saw: a number
            # the server lost is never reused for another secret.
            epoch=max(latest.epoch if latest else 0,
                      self.state.conversation(conv.id).get("epoch_floor", 0)) + 1,
            prev_envelope_hash=latest.envelope_hash if latest else bytes(32),
            chain_head=chain_head, members=self._member_keys(conv, members),
            name=conv.name if name is None else name)
        return {"envelope": _b64(envelope), "statement": _b64(data), "signature": _b64(signature)}

    def create(self, peers: list[Endorsed], name: str, kind: str) -> str:
        """Create a conversation with ``peers`` (a direct one has one peer); its id."""
        conversation_id = _rand._random_bytes(16)
        op = membership.Operation(conversation_id, 0, bytes(32), self.me.user_id,
                                  self.me.generation, "create", self.me.user_id,
                                  self.me.generation,
                                  *_prints(self.me))
        signed = membership.sign_operation(self.identity.signing_key, op)
        head = membership.operation_hash(signed[0])
        envelope, data, signature, _ = epochs.build_epoch(
            self.identity.signing_key, self.me, conversation_id=conversation_id, epoch=1,
            prev_envelope_hash=bytes(32), chain_head=head, members=[self.me], name=name)
        body = {"conversation_id": conversation_id.hex(), "kind": kind,
                "operation": {"statement": _b64(signed[0]), "signature": _b64(signed[1])},
                "epoch": {"envelope": _b64(envelope), "statement": _b64(data),
                          "signature": _b64(signature)}}
        if kind == "direct":
            body["peer"] = peers[0].user_id
        answer = self.session.post(BASE, body)
        if not answer.get("created", True):
            return answer["conversation"]  # the existing direct conversation
        for i, peer in enumerate(peers):
            conv = self.load(answer["conversation"])
            self.change_members(conv, "add", peer, with_epoch=(i == len(peers) - 1))
        return answer["conversation"]

    def change_members(self, conv: Conversation, kind: str, target: Endorsed | None = None,
                       *, with_epoch: bool = True, name: str | None = None) -> None:
        """Append an add, remove, leave or rename (a remove or rename with its epoch, in one
        request). A rename's operation carries no name: ``name`` travels only in the new
        epoch's envelope, so the server never learns it (protocol.md §15, §16)."""
        state = conv.chain.state
        if kind in ("add", "remove", "rename") and self.me.user_id not in state.admins:
            what = "rename the conversation" if kind == "rename" else f"{kind} members"
            raise UsageError(f"only an admin may {what}")
        if kind == "add" and state.is_member(target.user_id):
            raise UsageError(f"{conv.keys.name(target.user_id)} is already a member")
        if kind == "remove" and not state.is_member(target.user_id):
            raise UsageError(f"{conv.keys.name(target.user_id)} is not a member")
        if kind == "add":
            conv.keys.current[target.user_id] = target
            conv.keys.emails.setdefault(target.user_id, "")
        signed = self._sign_operation(conv, kind, target)
        body: dict = {"operation": {"statement": _b64(signed[0]), "signature": _b64(signed[1])}}
        if kind != "leave" and (with_epoch or kind in ("remove", "rename")):
            after = set(conv.members)
            if kind in ("add", "remove"):
                after = after - {target.user_id} if kind == "remove" else after | {target.user_id}
            body["epoch"] = self._build_epoch(conv, after, membership.operation_hash(signed[0]),
                                              name=name if kind == "rename" else None)
        self.session.post(f"{BASE}/{conv.id}/members", body)

    def _blockers(self, conv: Conversation) -> None:
        if conv.alerts:
            raise SendRefused(f"not sending to {conv.title()}: {conv.alerts[0]}")

    def ensure_epoch(self, conv: Conversation) -> Conversation:
        """Create the next epoch when one is due (judged from verified state); reloaded."""
        generations = {u: k.generation for u, k in conv.keys.current.items()}
        latest = conv.latest
        due = epochs.epoch_due(latest, conv.chain.state, generations, conv.departed)
        floor = self.state.conversation(conv.id).get("epoch_floor", 0)
        if (due is None and latest is not None and latest.epoch in conv.secrets
                and latest.epoch > floor):
            return conv
        body = self._build_epoch(conv, conv.members, conv.chain.state.head)
        try:
            self.session.post(f"{BASE}/{conv.id}/epochs", body)
        except ApiFailure as exc:
            if exc.code not in ("epoch_exists", "stale_epoch"):
                raise
        return self.load(conv.id)

    def send_text(self, conversation_id: str, text: str, *,
                  client_message_id: bytes | None = None) -> dict:
        """Seal and send one text message; the server's item (seq, message hash)."""
        return self._send_payload(conversation_id, check_text(text), "text",
                                  client_message_id=client_message_id)

    def send_file(self, conversation_id: str, doc: filemessage.FileDocument) -> dict:
        """Send a file message naming an upload this user made (``client.files.upload``),
        with the signed file claim the server links the upload by (protocol.md §20)."""
        return self._send_payload(conversation_id, filemessage.encode(doc),
                                  filemessage.FILE_KIND, upload_id=doc.upload_id)

    def _send_payload(self, conversation_id: str, payload: bytes, kind: str, *,
                      client_message_id: bytes | None = None,
                      upload_id: str | None = None) -> dict:
        entry = self.state.conversation(conversation_id)
        if entry.get("pending"):
            self._post_pending(conversation_id)
        cmid = client_message_id or _rand._random_bytes(16)
        for _attempt in range(MAX_RETRIES):
            conv = self.load(conversation_id)
            self._blockers(conv)
            conv = self.ensure_epoch(conv)
            self._blockers(conv)
            body = self._seal(conv, payload, cmid, kind)
            if upload_id is not None:
                body["file_claim"] = self._file_claim(conv, cmid, upload_id)
            entry = self.state.conversation(conversation_id)
            entry["pending"] = body
            self.state.save()
            try:
                return self._post_pending(conversation_id)
            except ApiFailure as exc:
                if exc.code != "stale_epoch":
                    raise
                entry.pop("pending", None)
        raise SendRefused("the conversation kept changing while sending; try again")

    def _file_claim(self, conv: Conversation, cmid: bytes, upload_id: str) -> dict:
        claim = fileclaim.FileClaim(conv.raw_id, cmid, fileclaim.upload_id_bytes(upload_id),
                                    self.me.user_id, self.me.generation)
        data, signature = fileclaim.sign_file_claim(self.identity.signing_key, claim)
        return {"statement": _b64(data), "signature": _b64(signature)}

    def _seal(self, conv: Conversation, payload: bytes, cmid: bytes, kind: str) -> dict:
        latest, stored = conv.latest, self.state.conversation(conv.id)
        if latest is None or latest.epoch not in conv.secrets:
            raise SendRefused(f"no epoch of {conv.title()} opens for you; try again")
        if conv.my_counter >= stored["counter"]:
            counter, prev = conv.my_counter + 1, conv.my_prev
        else:  # this device sent more than the server showed: continue its own chain
            counter, prev = stored["counter"] + 1, bytes.fromhex(stored["prev_hash"])
        context = messagebox.MessageContext(conv.raw_id, latest.epoch, latest.envelope_hash,
                                            self.me.user_id, self.me.generation,
                                            self.state.device_id, counter)
        box = messagebox.seal(conv.secrets[latest.epoch], context, payload)
        statement = messagebox.build_statement(
            context, box, client_message_id=cmid, kind=kind, prev_hash=prev,
            seen_seq=conv.seen[0], seen_hash=conv.seen[1])
        data, signature = messagebox.sign_statement(self.identity.signing_key, statement)
        return {"box": _b64(box), "statement": _b64(data), "signature": _b64(signature)}

    def _post_pending(self, conversation_id: str) -> dict:
        """Send the stored body (unchanged on every retry: the same client message id, so
        a lost answer gives one message) and forget it once acknowledged."""
        entry = self.state.conversation(conversation_id)
        body = entry["pending"]
        for attempt in range(MAX_RETRIES):
            try:
                answer = self.session.post(f"{BASE}/{conversation_id}/messages", body)
                break
            except ApiFailure as exc:
                if exc.code != "unreachable" or attempt == MAX_RETRIES - 1:
                    if exc.code != "unreachable":
                        entry.pop("pending", None)
                        self.state.save()
                    raise
        item = answer["items"][0]
        statement = messagebox.parse_statement(_unb64(body["statement"], "statement"))
        entry.pop("pending", None)
        entry["counter"] = max(entry["counter"], statement.context.device_counter)
        entry["prev_hash"] = messagebox.message_hash(_unb64(body["statement"], "s")).hex()
        self.state.save()
        return item


def _restored(conversation_id: str, what: str) -> ServerRestored:
    return ServerRestored(
        f"the server shows an older state of conversation {conversation_id[:12]} ({what}): "
        "it was probably restored from a backup, and what came after is gone from it. "
        f"Run `securechat accept-restore {conversation_id[:12]}` to continue from there")


def _prints(keys: Endorsed) -> tuple[bytes, bytes]:
    prints = epochs.MemberEntry.of(keys).fingerprints
    return prints.recipient_hash, prints.ed25519_hash


def check_text(text: str) -> bytes:
    """The plaintext JSON of a text message; :class:`UsageError` for empty or too long text
    (before anything is sent)."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError("the message is empty")
    payload = messagebox.encode_text(text)
    if len(messagebox.pad(payload)) + 33 > messagebox.MAX_BOX_SIZE:
        raise UsageError("the message is too long for one box (48 KiB)")
    return payload
