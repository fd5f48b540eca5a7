"""Version 2 users and conversations for tests, made the way a client makes them.

``V2User.signup`` runs the real client flow against the API (prelogin, key
derivation with ``client.derivation``, an identity from ``client.identity``,
the v2 signup that logs the session in), as tests/accounts/test_client_keys.py
does. ``Group`` keeps what a client keeps about one conversation (the chain
head, the current epoch and its secret) and builds real statements with
``client/``: membership operations (``client.membership``), epochs
(``client.epochs``) and message boxes (``client.messagebox``). Methods return
the raw HTTP response; they update the local state only on success, so a test
can also drive the server with stale or forged input.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
from dataclasses import dataclass, field

from django.conf import settings
from django.test import Client

from client import derivation, epochs, fileclaim, membership, messagebox, recovery
from client import fingerprints as fp
from client.endorsement import Endorsed
from client.identity import IdentityFile, wrap_to_recovery, wrap_with_passphrase

PASSWORD = "correct horse battery staple v2"
TEST_FLOOR = 10  # tests derive at work factor 10 (production refuses below 16)
BASE = "/api/v1/v2/conversations"
_counter = itertools.count(1)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def post_json(http: Client, path: str, body) -> object:
    return http.post(path, data=json.dumps(body), content_type="application/json")


class V2User:
    """A signed-up, logged-in v2 user: its HTTP client, identity file and directory keys."""

    def __init__(self, email: str, http: Client, identity: IdentityFile, user_id: int,
                 auth_key: bytes | None = None):
        self.email, self.http, self.identity, self.id = email, http, identity, user_id
        self.auth_key = auth_key  # what the client sends to log in again
        self.device_id = os.urandom(16)  # one client installation

    @classmethod
    def signup(cls, name: str | None = None) -> V2User:
        email = f"{name or 'user'}{next(_counter)}-{os.getpid()}@example.com"
        http = Client()
        r = post_json(http, "/api/v1/auth/prelogin", {"email": email})
        assert r.status_code == 200, r.content
        salt = base64.urlsafe_b64decode(r.json()["account_salt"] + "==")
        work_factor = r.json()["work_factor"]
        keys = derivation.derive_keys(email, salt, PASSWORD, work_factor,
                                      min_work_factor=TEST_FLOOR)
        code = recovery.generate_code()
        recovery_recipient = str(recovery.recovery_identity(code, settings.SECURECHAT_KEY_TYPE)
                                 .recipient())
        identity = IdentityFile.create(settings.SECURECHAT_KEY_TYPE, recovery_recipient)
        r = post_json(http, "/api/v1/auth/signup", {
            "email": email, "auth_key": b64url(keys.auth_key), "account_salt": b64url(salt),
            "work_factor": work_factor, "key_type": settings.SECURECHAT_KEY_TYPE,
            "recipient": identity.recipient(),
            "signing_key": b64url(identity.signing_public_key()),
            "wrapped_identity": b64(wrap_with_passphrase(identity, keys.passphrase)),
            "recovery_wrapped": b64(wrap_to_recovery(identity)),
        })
        assert r.status_code == 201, r.content
        from accounts.models import User  # the id a client learns from the directory

        return cls(email, http, identity, User.objects.get(email=email).pk, keys.auth_key)

    def new_login(self) -> Client:
        """Another complete login of this account (its own session, as a second device
        or tab would have), through the v2 login with the auth key. Runs in a thread."""
        http = Client()
        r = post_json(http, "/api/v1/auth/login", {"email": self.email,
                                                   "auth_key": b64url(self.auth_key)})
        assert r.status_code == 200 and not r.json().get("otp_required"), r.content
        return http

    def cookie_header(self, http: Client | None = None) -> str:
        """The session cookies of ``http`` (default: the signup's own) as a Cookie header."""
        cookies = (http or self.http).cookies
        return "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())

    @property
    def user(self):
        from accounts.models import User

        return User.objects.get(pk=self.id)

    @property
    def keys(self) -> Endorsed:
        return Endorsed(self.id, self.identity.current_generation, self.identity.recipient(),
                        self.identity.signing_public_key())

    @property
    def signing_key(self):
        return self.identity.signing_key

    def operation(self, conversation_id: bytes, index: int, prev_hash: bytes, kind: str,
                  target: V2User | None = None, argument: bytes = b"") -> tuple[bytes, bytes]:
        """``(statement, signature)`` of a membership operation by this user."""
        if kind in ("create", "add"):
            target = self if kind == "create" else target
            prints = fp.of(target.keys)
            extra = {"target_id": target.id, "target_generation": target.keys.generation,
                     "target_recipient_hash": prints.recipient_hash,
                     "target_ed25519_hash": prints.ed25519_hash}
        elif kind in ("remove", "grant-admin", "revoke-admin"):
            extra = {"target_id": target.id}
        else:
            extra = {}
        op = membership.Operation(conversation_id, index, prev_hash, self.id,
                                  self.keys.generation, kind, argument=argument, **extra)
        return membership.sign_operation(self.signing_key, op)


@dataclass
class Epoch:
    number: int
    envelope: bytes
    statement: bytes
    signature: bytes
    secret: bytes

    @property
    def envelope_hash(self) -> bytes:
        return epochs.parse_epoch_statement(self.statement).envelope_hash

    def json(self) -> dict:
        return {"envelope": b64(self.envelope), "statement": b64(self.statement),
                "signature": b64(self.signature)}


def signed_json(signed: tuple[bytes, bytes]) -> dict:
    return {"statement": b64(signed[0]), "signature": b64(signed[1])}


@dataclass
class Group:
    """One conversation as a client tracks it."""

    creator: V2User
    members: list[V2User]
    conversation_id: bytes = field(default_factory=lambda: os.urandom(16))
    head: bytes = bytes(32)
    index: int = -1
    epoch: Epoch | None = None
    counters: dict = field(default_factory=dict)
    last_hashes: dict = field(default_factory=dict)  # sender id -> its device's last message

    @property
    def hex(self) -> str:
        return self.conversation_id.hex()

    def url(self, what: str = "") -> str:
        return f"{BASE}/{self.hex}/{what}" if what else BASE

    def make_epoch(self, by: V2User, members: list[V2User], number: int | None = None,
                   chain_head: bytes | None = None) -> Epoch:
        number = number if number is not None else (self.epoch.number + 1 if self.epoch else 1)
        prev = self.epoch.envelope_hash if self.epoch else bytes(32)
        envelope, statement, signature, secret = epochs.build_epoch(
            by.signing_key, by.keys, conversation_id=self.conversation_id, epoch=number,
            prev_envelope_hash=prev, chain_head=chain_head or self.head,
            members=[m.keys for m in members], name="Book club")
        return Epoch(number, envelope, statement, signature, secret)

    def _advance(self, signed: tuple[bytes, bytes], index: int) -> None:
        self.head, self.index = membership.operation_hash(signed[0]), index

    def create(self, kind: str = "group", peer: V2User | None = None):
        """Create the conversation; a direct one names its ``peer``."""
        signed = self.creator.operation(self.conversation_id, 0, bytes(32), "create")
        head = membership.operation_hash(signed[0])
        epoch = self.make_epoch(self.creator, [self.creator], number=1, chain_head=head)
        body = {"conversation_id": self.hex, "kind": kind, "operation": signed_json(signed),
                "epoch": epoch.json()}
        if peer is not None:
            body["peer"] = peer.id
        r = post_json(self.creator.http, BASE, body)
        if r.status_code == 201:
            self._advance(signed, 0)
            self.epoch = epoch
        return r

    def append(self, by: V2User, kind: str, target: V2User | None = None, *,
               with_epoch: bool = False, argument: bytes = b""):
        signed = by.operation(self.conversation_id, self.index + 1, self.head, kind, target,
                              argument)
        after = list(self.members)
        if kind == "add":
            after.append(target)
        elif kind in ("remove", "leave"):
            after.remove(target if kind == "remove" else by)
        body = {"operation": signed_json(signed)}
        epoch = None
        if with_epoch or kind == "remove":
            epoch = self.make_epoch(by, after,
                                    chain_head=membership.operation_hash(signed[0]))
            body["epoch"] = epoch.json()
        r = post_json(by.http, self.url("members"), body)
        if r.status_code == 201:
            self._advance(signed, self.index + 1)
            self.members = after
            self.epoch = epoch or self.epoch
        return r

    def new_epoch(self, by: V2User):
        epoch = self.make_epoch(by, self.members)
        r = post_json(by.http, self.url("epochs"), epoch.json())
        if r.status_code == 201:
            self.epoch = epoch
        return r

    def message(self, sender: V2User, text: str, *, client_message_id: bytes | None = None,
                epoch: Epoch | None = None, kind: str = "text",
                plaintext: bytes | None = None) -> dict:
        """The JSON body of a send: a sealed box and the sender's signed statement
        (``plaintext``: another version 2 JSON document than a text message)."""
        epoch = epoch or self.epoch
        counter = self.counters[sender.id] = self.counters.get(sender.id, 0) + 1
        context = messagebox.MessageContext(
            self.conversation_id, epoch.number, epoch.envelope_hash, sender.id,
            sender.keys.generation, sender.device_id, counter)
        box = messagebox.seal(epoch.secret, context,
                              plaintext if plaintext is not None else messagebox.encode_text(text))
        statement = messagebox.build_statement(
            context, box, client_message_id=client_message_id or os.urandom(16), kind=kind,
            prev_hash=self.last_hashes.get(sender.id, messagebox.ZERO_HASH))
        data, signature = messagebox.sign_statement(sender.signing_key, statement)
        self.last_hashes[sender.id] = messagebox.message_hash(data)
        return {"box": b64(box), "statement": b64(data), "signature": b64(signature)}

    def file_message(self, sender: V2User, upload_id: str, *, kind: str = "file",
                     claim_message_id: bytes | None = None, signer: V2User | None = None) -> dict:
        """A send of a file message with its signed file claim (protocol.md §20) naming
        ``upload_id``; ``claim_message_id`` and ``signer`` forge a mismatched claim."""
        client_message_id = os.urandom(16)
        body = self.message(sender, "(a file: its name, key and file_hash in a real client)",
                            client_message_id=client_message_id, kind=kind)
        claim = fileclaim.FileClaim(self.conversation_id, claim_message_id or client_message_id,
                                    fileclaim.upload_id_bytes(upload_id), sender.id,
                                    sender.keys.generation)
        body["file_claim"] = signed_json(fileclaim.sign_file_claim(
            (signer or sender).signing_key, claim))
        return body

    def send_file(self, sender: V2User, upload_id: str, **kwargs):
        return post_json(sender.http, self.url("messages"),
                         self.file_message(sender, upload_id, **kwargs))

    def unsend_body(self, sender: V2User, target_hash: bytes) -> dict:
        """A signed unsend whose box names ``target_hash`` (protocol.md §19)."""
        doc = {"v": 2, "type": "unsend", "target": target_hash.hex()}
        return self.message(sender, "", kind="unsend",
                            plaintext=json.dumps(doc, separators=(",", ":")).encode())

    def unsend(self, sender: V2User, target_hash: bytes, body: dict | None = None):
        return post_json(sender.http, self.url(f"messages/{target_hash.hex()}/unsend"),
                         body or self.unsend_body(sender, target_hash))

    def send(self, sender: V2User, text: str, **kwargs):
        return post_json(sender.http, self.url("messages"), self.message(sender, text, **kwargs))


def group_of(*users: V2User) -> Group:
    """A created group with every user added by the first (a client's state after it)."""
    group = Group(users[0], [users[0]])
    assert group.create().status_code == 201
    for user in users[1:]:
        r = group.append(users[0], "add", user, with_epoch=True)
        assert r.status_code == 201, r.content
    return group


def direct_of(alice: V2User, bob: V2User) -> Group:
    """A direct conversation Alice started with Bob, Bob added by her."""
    group = Group(alice, [alice])
    r = group.create("direct", peer=bob)
    assert r.status_code == 201, r.content
    r = group.append(alice, "add", bob, with_epoch=True)
    assert r.status_code == 201, r.content
    return group


def flip(b64text: str) -> str:
    """The base64 of the same bytes with the last bit flipped (a tampered field)."""
    raw = bytearray(base64.b64decode(b64text))
    raw[-1] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def snapshot() -> tuple:
    """Everything v2 stores, to show that a refused request changed nothing."""
    from messaging.models import (
        ConversationV2,
        EpochV2,
        MembershipOperation,
        MemberV2,
        MessageV2,
        ServerNoticeV2,
    )

    return (list(ConversationV2.objects.values_list("pk", "last_seq", "head", "head_index",
                                                    "epoch_number", "epoch_hash")),
            list(ServerNoticeV2.objects.values_list("pk", flat=True)),
            list(MembershipOperation.objects.values_list("pk", flat=True)),
            list(EpochV2.objects.values_list("pk", flat=True)),
            list(MemberV2.objects.values_list("conversation_id", "user_id", "last_read_seq")),
            list(MessageV2.objects.values_list("pk", flat=True)))
