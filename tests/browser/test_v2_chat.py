"""The browser's version 2 chat (static/js/v2/chat/): conversations encrypted in the page.

Users are signed up over HTTP against one live server per module, the way a
client does it (tests/support/v2chat.py's flow, with an HTTP client instead of
Django's in-process one). A page is any page of the live server (its strict CSP
applies) into which the test imports the ``v2/chat/index`` bundle and calls
``startChat(root, keys)`` with the user's keys from Python, as the /v2/ shell
will. The other members are Python clients (``client/``) that build, verify and
open everything themselves; tampering goes straight to the database rows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

import agecrypt
from client import derivation, epochs, membership, messagebox, recovery
from client.endorsement import Endorsed
from client.errors import ClientCryptoError
from client.identity import IdentityFile, wrap_to_recovery, wrap_with_passphrase
from tests.support.bundle import BUNDLE_DIR, ensure_built
from tests.support.clients import ApiClient
from tests.support.live import LiveServer
from tests.support.v2chat import PASSWORD, TEST_FLOOR, Epoch, Group, V2User, b64, b64url

pytestmark = [pytest.mark.browser]

BASE = "/api/v1/v2/conversations"
HEARTBEAT = 1  # seconds (the module's server): a lost push is noticed within one
START = """async ([url, keys, qrReader]) => {
  const { startChat } = await import(url);
  const root = document.createElement("div");
  root.id = "v2-root";
  document.querySelector("main").replaceChildren(root);
  const seed = Uint8Array.from(atob(keys.signingSeed), (c) => c.charCodeAt(0));
  window.chat = await startChat(root, { ...keys, signingSeed: seed }, { qrReader });
}"""


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, redis_url, tmp_path_factory):
    """One uvicorn for the module, on the test database (tests commit: transactional_db)."""
    ensure_built()
    live = LiveServer("uvicorn", tmp_path_factory.mktemp("v2-chat-server"),
                      extra_env={"SECURECHAT_RATE_SIGNUP_ADDRESS": "1000/3600",
                                 "SECURECHAT_WS_HEARTBEAT_SECONDS": str(HEARTBEAT)}).start()
    yield live
    live.stop()


class LiveHttp:
    """The ``http`` V2User and Group expect (``post(path, data, content_type)``, ``get``),
    speaking to the live server with the session cookie, CSRF token and Origin."""

    def __init__(self, server):
        self.api = ApiClient(server.url)

    def post(self, path, data=None, content_type="application/json"):
        self.api.csrf_token = None  # login rotates it: fetch the current one
        headers = {**self.api.headers(), "Content-Type": content_type}
        return self.api.http.post(path, content=data, headers=headers)

    def put(self, path, data, content_type="application/json"):
        self.api.csrf_token = None
        headers = {**self.api.headers(), "Content-Type": content_type}
        return self.api.http.put(path, content=data, headers=headers)

    def get(self, path):
        return self.api.get(path)

    def json(self, path):
        response = self.get(path)
        assert response.status_code == 200, response.text
        return response.json()


def signup(server, name: str) -> V2User:
    """A verified v2 account made by the client flow over HTTP, its session logged in."""
    from accounts.models import User

    email = f"{name}-{secrets.token_hex(4)}@example.com"
    http = LiveHttp(server)
    r = http.post("/api/v1/auth/prelogin", json.dumps({"email": email}))
    assert r.status_code == 200, r.text
    salt = base64.urlsafe_b64decode(r.json()["account_salt"] + "==")
    work_factor = r.json()["work_factor"]
    keys = derivation.derive_keys(email, salt, PASSWORD, work_factor, min_work_factor=TEST_FLOOR)
    recipient = str(recovery.recovery_identity(recovery.generate_code(),
                                               settings.SECURECHAT_KEY_TYPE).recipient())
    identity = IdentityFile.create(settings.SECURECHAT_KEY_TYPE, recipient)
    r = http.post("/api/v1/auth/signup", json.dumps({
        "email": email, "auth_key": b64url(keys.auth_key), "account_salt": b64url(salt),
        "work_factor": work_factor, "key_type": settings.SECURECHAT_KEY_TYPE,
        "recipient": identity.recipient(), "signing_key": b64url(identity.signing_public_key()),
        "wrapped_identity": b64(wrap_with_passphrase(identity, keys.passphrase)),
        "recovery_wrapped": b64(wrap_to_recovery(identity))}))
    assert r.status_code == 201, r.text
    User.objects.filter(email=email).update(email_verified_at=timezone.now())
    return V2User(email, http, identity, User.objects.get(email=email).pk)


def keys_of(user: V2User) -> dict:
    """What the /v2/ shell hands startChat after unlocking: the identity file's fields."""
    return {"user": {"id": user.id, "email": user.email},
            "generation": user.identity.current_generation,
            "ageIdentities": [str(i) for i in user.identity.identities],
            "signingSeed": b64(user.identity.signing_key.private_bytes_raw())}


def bundle_url(entry: str = "v2/chat/index") -> str:
    manifest = json.loads((BUNDLE_DIR / "manifest.json").read_text())
    return "/static/dist/" + manifest["entries"][entry]["file"]


def pinned_bundle(entry: str) -> dict:
    """The {url, integrity} the /v2/ page names for a bundle it loads on demand."""
    manifest = json.loads((BUNDLE_DIR / "manifest.json").read_text())
    return {"url": bundle_url(entry), "integrity": manifest["entries"][entry]["integrity"]}


def open_chat(new_page, server, user: V2User, prepare=None, qr_reader=None):
    """A page of the live server running the v2 chat as ``user`` (its session cookie);
    ``prepare(page)`` runs before the page loads (e.g. to install Playwright's clock);
    ``qr_reader``: the QR code reader's {url, integrity} if not the build's."""
    page = new_page(server)
    if prepare is not None:
        prepare(page)
    page.context.add_cookies([{"name": c.name, "value": c.value, "url": server.url}
                              for c in user.http.api.http.cookies.jar])
    page.goto("/about/")
    page.evaluate(START, [bundle_url(), keys_of(user),
                          qr_reader or pinned_bundle("v2/chat/qr-reader")])
    expect(page.locator(".v2-status")).to_have_text("Connected")
    return page


def start_conversation(page, emails: list[str], name: str = "") -> str:
    page.get_by_label("Email address(es), separated by commas").fill(", ".join(emails))
    page.get_by_label("Group name (for a group)").fill(name)
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator(".v2-conversation")).to_be_visible()
    return page.evaluate("window.chat.engine.openId")


def send(page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def texts(page):
    return page.locator(".v2-timeline .v2-message .text")


@dataclass
class ChainedGroup(Group):
    """A Group whose messages name their device's previous message, as a real client's do
    (Group leaves prev_hash zero, which a receiver that chains shows as a missing message)."""

    previous: dict = field(default_factory=dict)

    def message(self, sender: V2User, text: str, *, kind: str = "text",
                plaintext: bytes | None = None, **kwargs) -> dict:
        """``plaintext``: another version 2 JSON document than a text message."""
        epoch = self.epoch
        counter = self.counters[sender.id] = self.counters.get(sender.id, 0) + 1
        context = messagebox.MessageContext(
            self.conversation_id, epoch.number, epoch.envelope_hash, sender.id,
            sender.keys.generation, sender.device_id, counter)
        box = messagebox.seal(epoch.secret, context,
                              plaintext if plaintext is not None else messagebox.encode_text(text))
        statement = messagebox.build_statement(
            context, box, client_message_id=os.urandom(16), kind=kind,
            prev_hash=self.previous.get(sender.id, bytes(32)))
        data, signature = messagebox.sign_statement(sender.signing_key, statement)
        self.previous[sender.id] = messagebox.message_hash(data)
        return {"box": b64(box), "statement": b64(data), "signature": b64(signature)}


class Reader:
    """A Python client's view of a conversation: the chain verified from ``create``, every
    epoch it is listed in opened, every message verified and opened in its own context."""

    def __init__(self, user: V2User, conversation_id: str, everyone: list[V2User]):
        self.user, self.id, self.cid = user, conversation_id, bytes.fromhex(conversation_id)
        self.by_id = {u.id: u.keys for u in everyone}
        chain = user.http.json(f"{BASE}/{conversation_id}/members")["operations"]
        self.chain = membership.MembershipChain.replay(
            [(base64.b64decode(op["statement"]), base64.b64decode(op["signature"]))
             for op in chain], self.lookup)
        self.epochs, self.stored_epochs, previous = {}, {}, None
        for row in user.http.json(f"{BASE}/{conversation_id}/epochs?after=0")["epochs"]:
            parts = [base64.b64decode(row[k]) for k in ("envelope", "statement", "signature")]
            self.stored_epochs[row["number"]] = parts
            statement = epochs.parse_epoch_statement(parts[1])
            try:
                self.epochs[row["number"]] = epochs.open_epoch(
                    *parts, me=user.keys, identity=user.identity.current_identity,
                    chain=self.chain, key_lookup=self.lookup, previous=previous)
            except ClientCryptoError:  # not listed, or refused: its messages stay closed
                pass
            previous = statement

    def lookup(self, user_id, generation):
        keys = self.by_id.get(user_id)
        return keys if keys is not None and keys.generation == generation else None

    def messages(self) -> list[tuple[int, str]]:
        items = self.user.http.json(f"{BASE}/{self.id}/timeline?after=0")["items"]
        return [(item["sender"], self.open(item)) for item in items if item["type"] == "message"]

    def open(self, item) -> str:
        opened = self.epochs[item["epoch"]]
        context = messagebox.MessageContext(
            self.cid, item["epoch"], opened.statement.envelope_hash, item["sender"],
            self.by_id[item["sender"]].generation, bytes.fromhex(item["device_id"]),
            item["counter"])
        box = base64.b64decode(item["box"])
        messagebox.verify_statement(self.by_id[item["sender"]].ed25519,
                                    base64.b64decode(item["statement"]),
                                    base64.b64decode(item["signature"]), context=context, box=box)
        return messagebox.parse_plaintext(
            messagebox.open_box(opened.secret, context, box))["text"]

    def group(self, members: list[V2User]) -> Group:
        """A tests.support.v2chat Group at this verified state, to send as a Python client."""
        number = max(self.epochs)
        envelope, statement, signature = self.stored_epochs[number]
        state = self.chain.state
        return ChainedGroup(members[0], members, conversation_id=self.cid, head=state.head,
                     index=state.index, epoch=Epoch(number, envelope, statement, signature,
                                                    self.epochs[number].secret))


def test_a_browser_user_and_a_python_client_exchange_messages_both_ways(
        server, transactional_db, new_page):
    """Alice (Chromium) starts a direct conversation with Bob (Python client) by address;
    each reads what the other sealed, verified with their own keys."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email])
    send(page, "hello Bob, from the browser")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])

    reader = Reader(bob, conversation, [alice, bob])
    assert sorted(reader.chain.state.members) == sorted([alice.id, bob.id])
    assert reader.messages() == [(alice.id, "hello Bob, from the browser")]

    r = reader.group([alice, bob]).send(bob, "hi Alice, from Python")
    assert r.status_code == 201, r.text
    expect(texts(page)).to_have_text(["hello Bob, from the browser", "hi Alice, from Python"])
    expect(page.locator(".v2-message.theirs .sender")).to_have_text([bob.email])
    assert page.errors == []


def test_a_group_of_three_created_in_the_browser_is_verified_and_read_by_python_clients(
        server, transactional_db, new_page):
    """Alice makes "Book club" with Bob and Carol in Chromium: both Python clients verify
    the chain from create (three members, Alice the admin), open the current epoch with
    its name, and read her message; her timeline shows each operation."""
    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email, carol.email], name="Book club")
    expect(page.locator("#v2-title")).to_have_text("Book club")
    expect(page.locator(".v2-operation")).to_have_text([
        "You created the conversation", f"You added {bob.email}", f"You added {carol.email}"])
    expect(page.locator(".v2-members li")).to_have_count(3)
    send(page, "welcome to the book club")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])

    for user in (bob, carol):
        reader = Reader(user, conversation, [alice, bob, carol])
        assert set(reader.chain.state.members) == {alice.id, bob.id, carol.id}
        assert reader.chain.state.admins == frozenset({alice.id})
        assert reader.epochs[max(reader.epochs)].name == "Book club"
        assert reader.messages() == [(alice.id, "welcome to the book club")]
    assert page.errors == []


def test_a_browser_user_added_by_a_python_client_reads_replies_and_leaves(
        server, transactional_db, new_page):
    """With Bob's page open, Alice (Python) makes "Book club", adds Bob and writes: the new
    conversation appears live with one unread message. Bob's page, which never saw Alice's
    address, pins her keys by id (…/keys), verifies the chain (live pushes carry no
    statements: it reads them from …/members) and her epoch, reads her message, stores
    its read position and replies; Alice's client reads the reply; Bob leaves, Alice's
    chain shows him gone, and his page stops offering to send."""
    from messaging.models import ConversationV2, MemberV2

    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, bob)
    group = ChainedGroup(alice, [alice])
    assert group.create().status_code == 201
    assert group.append(alice, "add", bob, with_epoch=True).status_code == 201
    assert group.send(alice, "hello from the Python client").status_code == 201

    expect(page.locator(".v2-open .v2-open-label")).to_have_text(["Book club"])
    expect(page.locator(".v2-open .v2-unread")).to_have_text(["1 unread"])
    # The newest message and its time, in the list (and so in the button's name).
    expect(page.locator(".v2-open .v2-open-preview")).to_have_text(
        [f"{alice.email}: hello from the Python client"])
    expect(page.locator(".v2-open .v2-open-time")).to_have_text([re.compile(r"\d")])
    expect(page.get_by_role("button", name=re.compile(
        r"Book club.*hello from the Python client.*1 unread"))).to_be_visible()
    page.locator(".v2-open").click()
    expect(page.locator(".v2-unread")).to_have_count(0)
    expect(page.locator(".v2-operation")).to_have_text([
        f"{alice.email} created the conversation", f"{alice.email} added You"])
    expect(page.locator(".v2-message.theirs .sender")).to_have_text([alice.email])
    expect(texts(page)).to_have_text(["hello from the Python client"])
    last_seq = ConversationV2.objects.get(pk=group.hex).last_seq
    for _ in range(50):
        if MemberV2.objects.get(conversation_id=group.hex, user_id=bob.id).last_read_seq:
            break
        page.wait_for_timeout(100)
    assert MemberV2.objects.get(conversation_id=group.hex, user_id=bob.id).last_read_seq \
        == last_seq
    send(page, "hello back from the browser")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])
    assert Reader(alice, group.hex, [alice, bob]).messages() == [
        (alice.id, "hello from the Python client"), (bob.id, "hello back from the browser")]

    page.get_by_role("button", name="Leave conversation").click()
    expect(page.locator(".v2-operation").last).to_have_text("You left")
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    assert set(Reader(alice, group.hex, [alice, bob]).chain.state.members) == {alice.id}
    assert page.errors == []


def test_a_new_message_updates_the_list_in_place_keeping_focus_and_a_click_under_way(
        server, transactional_db, new_page):
    """Messages arriving re-render the list, and the conversation's button is updated in
    place: a keyboard user's focus stays on it, and a click whose press came before the
    message and whose release came after still opens the conversation (a new button per
    render lost both: the release landed on another element)."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, bob)
    group = ChainedGroup(alice, [alice])
    assert group.create().status_code == 201
    assert group.append(alice, "add", bob, with_epoch=True).status_code == 201
    assert group.send(alice, "one").status_code == 201
    entry = page.locator(".v2-open")
    expect(entry.locator(".v2-unread")).to_have_text("1 unread")
    entry.focus()
    entry.evaluate("(button) => { button.dataset.seenBefore = 'yes'; }")

    assert group.send(alice, "two").status_code == 201
    expect(entry.locator(".v2-unread")).to_have_text("2 unread")
    expect(entry).to_be_focused()
    expect(entry).to_have_attribute("data-seen-before", "yes")  # the same element

    entry.hover()
    page.mouse.down()
    assert group.send(alice, "three").status_code == 201
    expect(entry.locator(".v2-unread")).to_have_text("3 unread")  # rendered mid-click
    page.mouse.up()
    expect(texts(page)).to_have_text(["one", "two", "three"])
    expect(entry).to_have_attribute("aria-current", "true")
    assert page.errors == []


def test_an_epoch_that_encrypts_to_another_key_of_mine_is_refused_and_replaced(
        server, transactional_db, new_page):
    """Alice (Python) adds Bob with an epoch whose entry for Bob carries Carol's keys: Bob's
    page refuses it ("does not encrypt to this member's current keys"), and his next
    message goes out under a replacement epoch he creates, which Alice opens and reads
    him in."""
    from messaging.models import EpochV2

    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    group = ChainedGroup(alice, [alice])
    assert group.create().status_code == 201
    assert group.append(alice, "add", bob).status_code == 201
    wrong_bob = Endorsed(bob.id, 1, carol.identity.recipient(),
                         carol.identity.signing_public_key())
    envelope, statement, signature, _secret = epochs.build_epoch(
        alice.signing_key, alice.keys, conversation_id=group.conversation_id, epoch=2,
        prev_envelope_hash=group.epoch.envelope_hash, chain_head=group.head,
        members=[alice.keys, wrong_bob], name="Book club")
    r = group.creator.http.post(group.url("epochs"), json.dumps(
        {"envelope": b64(envelope), "statement": b64(statement), "signature": b64(signature)}))
    assert r.status_code == 201, r.text

    page = open_chat(new_page, server, bob)
    page.locator(".v2-open").click()
    expect(page.locator(".v2-warnings li.v2-epoch")).to_contain_text(
        "Epoch 2 was refused: the epoch does not encrypt to this member's current keys")
    send(page, "under my own epoch")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])
    latest = EpochV2.objects.filter(conversation_id=group.hex).order_by("-number").first()
    assert (latest.number, latest.creator_id) == (3, bob.id)
    assert Reader(alice, group.hex, [alice, bob]).messages() == [(bob.id, "under my own epoch")]


def test_after_reconnecting_every_message_shows_exactly_once_in_order(
        server, transactional_db, new_page):
    """Bob (Python) sends while Alice's socket is down, then again right after a drop; her
    page (never reloaded) catches up with sync2: each message once, in seq order. What
    she typed while down shows "Waiting to send", goes out on reconnection and lands once."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email])
    group = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    sent = [f"message {i}" for i in range(1, 9)]
    for text in sent[:3]:
        assert group.send(bob, text).status_code == 201
    expect(texts(page)).to_have_text(sent[:3])

    page.evaluate("window.chat.engine.socket.stop()")
    expect(page.locator(".v2-status")).to_have_text("Reconnecting…")
    for text in sent[3:6]:
        assert group.send(bob, text).status_code == 201
    send(page, "typed while offline")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Waiting to send"])
    page.evaluate("window.chat.engine.socket.connect()")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])
    expect(page.locator(".v2-message.theirs .text")).to_have_text(sent[:6])
    assert [t for _, t in Reader(bob, conversation, [alice, bob]).messages()] == [
        *sent[:6], "typed while offline"]

    page.evaluate("window.chat.engine.socket.drop()")  # reconnects by itself
    for text in sent[6:]:
        assert group.send(bob, text).status_code == 201
    expect(page.locator(".v2-message.theirs .text")).to_have_text(sent)
    seqs = page.locator(".v2-timeline .v2-message").evaluate_all(
        "items => items.map((li) => Number(li.dataset.seq))")
    assert seqs == sorted(set(seqs)) and len(seqs) == len(sent) + 1
    assert not page.locator(".v2-warnings li").count()  # no gap, no fork: nothing to warn


def test_a_message_whose_push_never_came_shows_after_the_next_heartbeat(
        server, transactional_db, new_page):
    """A message of Bob's is stored as a row without its live push (a push lost on the
    way): the heartbeat's last seq tells Alice's open page it is behind, and it syncs;
    the message shows once, between the pushed ones (the controls)."""
    from messaging.models import ConversationV2, MessageV2

    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email])
    group = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    assert group.send(bob, "pushed first").status_code == 201
    expect(texts(page)).to_have_text(["pushed first"])

    body = group.message(bob, "stored without a push")
    statement = base64.b64decode(body["statement"])
    parsed = messagebox.parse_statement(statement)
    row = ConversationV2.objects.get(pk=conversation)
    row.last_seq += 1
    MessageV2.objects.create(
        conversation=row, sender_id=bob.id, device_id=parsed.context.device_id,
        device_counter=parsed.context.device_counter,
        client_message_id=parsed.client_message_id, epoch_number=parsed.context.epoch,
        box=base64.b64decode(body["box"]), statement=statement,
        signature=base64.b64decode(body["signature"]),
        message_hash=messagebox.message_hash(statement), seq=row.last_seq)
    row.save()
    expect(texts(page)).to_have_text(["pushed first", "stored without a push"],
                                     timeout=(HEARTBEAT * 3 + 5) * 1000)
    assert group.send(bob, "pushed after").status_code == 201
    expect(texts(page)).to_have_text(["pushed first", "stored without a push", "pushed after"])
    assert not page.locator(".v2-warnings li").count()


def test_a_tombstone_no_signed_unsend_explains_shows_as_removed_by_the_server(
        server, transactional_db, new_page):
    """The server turns one of Bob's messages into a tombstone claiming an unsend Bob never
    signed: Alice's page shows it as removed by the server, with a warning; the other
    message (the control) keeps its text."""
    from messaging.models import MessageV2

    alice, bob = signup(server, "alice"), signup(server, "bob")
    first = open_chat(new_page, server, alice)
    conversation = start_conversation(first, [bob.email])
    group = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    assert group.send(bob, "still here").status_code == 201
    r = group.send(bob, "quietly deleted")
    MessageV2.objects.filter(seq=r.json()["items"][0]["seq"], conversation_id=conversation
                             ).update(removed_at=timezone.now(), removed_reason="unsend")

    page = open_chat(new_page, server, alice)
    page.locator(f'.v2-open[data-id="{conversation}"]').click()
    expect(texts(page)).to_have_text(["still here", "Message removed by the server."])
    expect(page.locator(".v2-warnings li.v2-removed")).to_have_text(
        [f"A message from {bob.email} was removed by the server."])


def test_a_contacts_new_key_is_announced_live_without_a_reload_or_a_send(
        server, transactional_db, new_page):
    """Bob gets a new key generation while Alice's page is open: the key_change2 push makes
    her page read Bob's directory entry again and show the notice at once (no alert before
    it: the control)."""
    from accounts.events import user_group
    from accounts.models import KeyGeneration
    from messaging.v2.actions import KEYS_EVENT_TYPE

    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    page = open_chat(new_page, server, alice)
    start_conversation(page, [bob.email])
    expect(page.locator(".v2-members li")).to_have_count(2)
    assert not page.locator(".v2-alerts li").count()
    KeyGeneration.objects.filter(user_id=bob.id).update(retired_at=timezone.now())
    KeyGeneration.objects.create(user_id=bob.id, number=2,
                                 key_type=settings.SECURECHAT_KEY_TYPE,
                                 recipient=carol.identity.recipient(),
                                 signing_public_key=carol.identity.signing_public_key())
    # The live server pushes this on its own key changes; for a row made here, this process
    # pushes it through the same Redis (from a thread: Playwright holds this one's loop).
    push = async_to_sync(get_channel_layer().group_send)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(push, user_group(alice.id), {"type": KEYS_EVENT_TYPE, "user": bob.id,
                                                 "generation": 2}).result()
    expect(page.locator(".v2-alerts li.v2-key-change")).to_have_text(
        [f"{bob.email} has a new key (generation 2)."], timeout=5000)


def tamper(message_seq: int, conversation: str, **changes) -> None:
    from messaging.models import MessageV2

    row = MessageV2.objects.get(conversation_id=conversation, seq=message_seq)
    for name, change in changes.items():
        setattr(row, name, change(bytes(getattr(row, name))))
    row.save()


def flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def test_a_tampered_message_shows_as_failed_and_never_as_text(
        server, transactional_db, new_page):
    """Rows of Bob's messages edited on the server (a ciphertext byte, a signature byte)
    show as failed with a warning when Alice loads the conversation; the untouched one
    (the control) shows its text; the tampered texts appear nowhere on the page."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    first = open_chat(new_page, server, alice)
    conversation = start_conversation(first, [bob.email])
    group = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    seqs = []
    for text in ("genuine words", "secret box edited", "secret signature edited"):
        r = group.send(bob, text)
        assert r.status_code == 201, r.text
        seqs.append(r.json()["items"][0]["seq"])
    tamper(seqs[1], conversation, box=flip_last)
    tamper(seqs[2], conversation, signature=flip_last)

    page = open_chat(new_page, server, alice)
    page.locator(f'.v2-open[data-id="{conversation}"]').click()
    expect(texts(page)).to_have_text(["genuine words",
                                      "This message failed verification and is not shown.",
                                      "This message failed verification and is not shown."])
    expect(page.locator(".v2-message.theirs.failed")).to_have_count(2)
    expect(page.locator(".v2-warnings li.v2-verify")).to_have_count(2)
    assert "edited" not in page.locator("#v2-root").inner_text()


def test_a_membership_operation_the_server_inserted_without_a_valid_signature_is_refused(
        server, transactional_db, new_page):
    """The server appends "Bob added Carol" as rows (operation, member, head) with a
    signature Bob never made: Alice's page refuses it, shows a warning, keeps Carol out of
    the members and blocks sending; the signed operations before it (control) show."""
    from messaging.models import ConversationV2, MembershipOperation, MemberV2

    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    first = open_chat(new_page, server, alice)
    conversation = start_conversation(first, [bob.email], name="Team")
    row = ConversationV2.objects.get(pk=conversation)
    statement, _ = bob.operation(bytes.fromhex(conversation), row.head_index + 1,
                                 bytes(row.head), "add", carol)
    op_hash = hashlib.sha256(statement).digest()
    row.last_seq += 1
    MembershipOperation.objects.create(
        conversation=row, index=row.head_index + 1, prev_hash=bytes(row.head), op_hash=op_hash,
        kind="add", actor_id=bob.id, statement=statement, signature=os.urandom(64),
        seq=row.last_seq)
    MemberV2.objects.create(conversation=row, user_id=carol.id, joined_seq=row.last_seq)
    row.head, row.head_index = op_hash, row.head_index + 1
    row.save()

    page = open_chat(new_page, server, alice)
    page.locator(f'.v2-open[data-id="{conversation}"]').click()
    expect(page.locator(".v2-operation")).to_have_text([
        "You created the conversation", f"You added {bob.email}"])
    expect(page.locator(".v2-warnings li.v2-membership")).to_contain_text(
        "A membership change (operation 2) was refused")
    expect(page.locator(".v2-members li")).to_have_count(2)
    expect(page.locator(".v2-members")).not_to_contain_text(carol.email)
    expect(page.get_by_role("button", name="Send")).to_be_disabled()


def test_a_removed_member_cannot_open_the_epoch_that_removes_it(
        server, transactional_db, new_page):
    """Alice removes Carol in the browser: the remove lands with a new epoch listing Alice
    and Bob only. Read from the database, Carol's identity opens the epoch before (the
    control) but not the new one, and Bob reads the message sent under it."""
    from messaging.models import EpochV2, MessageV2

    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email, carol.email], name="Trio")
    page.get_by_role("button", name=f"Remove {carol.email}").click()
    expect(page.locator(".v2-operation").last).to_have_text(f"You removed {carol.email}")
    expect(page.locator(".v2-members li")).to_have_count(2)
    send(page, "only for Alice and Bob")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])

    message = MessageV2.objects.get(conversation_id=conversation)
    epochs_by_number = {e.number: e for e in EpochV2.objects.filter(conversation_id=conversation)}
    latest = epochs_by_number[message.epoch_number]
    assert message.epoch_number == max(epochs_by_number)
    listed = {e.user_id for e in epochs.parse_epoch_statement(bytes(latest.statement)).members}
    assert listed == {alice.id, bob.id}
    carol_key = carol.identity.current_identity
    agecrypt.decrypt(bytes(epochs_by_number[message.epoch_number - 1].envelope), [carol_key])
    with pytest.raises(agecrypt.AgeError):
        agecrypt.decrypt(bytes(latest.envelope), [carol_key])
    assert Reader(bob, conversation, [alice, bob, carol]).messages() == [
        (alice.id, "only for Alice and Bob")]


def test_pins_are_kept_in_the_pin_blob_and_a_swapped_directory_key_is_refused(
        server, transactional_db, new_page):
    """Alice's page pins Bob's keys in her pin blob (stored encrypted, signed, version 1+).
    Then the server swaps Bob's directory signing key for Carol's: a new page (no memory of
    the first) loads the pins, refuses the swapped key with a visible warning, and cannot
    verify Bob's message with it (failed, not shown), which the first page (the control)
    read fine. (The server itself now refuses Bob's sends: it checks his signatures with
    the swapped key.)"""
    from accounts.models import KeyGeneration, PinBlob

    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    first = open_chat(new_page, server, alice)
    conversation = start_conversation(first, [bob.email])
    group = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    assert group.send(bob, "signed by the real Bob").status_code == 201
    expect(texts(first)).to_have_text(["signed by the real Bob"])
    first.evaluate("window.chat.engine.pins.flushed()")
    stored = PinBlob.objects.get(user_id=alice.id)
    assert stored.version >= 1 and bob.email.encode() not in bytes(stored.blob)

    KeyGeneration.objects.filter(user_id=bob.id).update(
        signing_public_key=carol.identity.signing_public_key())
    page = open_chat(new_page, server, alice)
    page.locator(f'.v2-open[data-id="{conversation}"]').click()
    expect(page.locator(".v2-alerts li.v2-key-change")).to_contain_text(
        f"The directory shows another key for {bob.email}")
    expect(page.locator(".v2-message.theirs.failed")).to_have_count(1)
    assert "signed by the real Bob" not in page.locator("#v2-root").inner_text()


START_WITH = """async ([url, keys, extra]) => {
  const { startChat } = await import(url);
  const root = document.createElement("div");
  root.id = "v2-root";
  document.querySelector("main").replaceChildren(root);
  const seed = Uint8Array.from(atob(keys.signingSeed), (c) => c.charCodeAt(0));
  try {
    window.chat = await startChat(root, { ...keys, ...extra, signingSeed: seed });
    return "started";
  } catch (error) {
    return error.message;
  }
}"""


def test_the_shells_mount_keys_a_shared_computer_and_a_recipient_that_is_not_mine(
        server, transactional_db, new_page):
    """The /v2/ shell's extra keys: on a shared computer (`shared`) the chat writes nothing
    to localStorage, even when sending, where a personal one keeps its device state (the
    control); a `recipient` that is not the directory's stops the chat with a message."""
    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    cookies = [{"name": c.name, "value": c.value, "url": server.url}
               for c in alice.http.api.http.cookies.jar]
    for shared, stored in ((True, 0), (False, 1)):
        page = new_page(server)
        page.context.add_cookies(cookies)
        page.goto("/about/")
        assert page.evaluate(START_WITH, [bundle_url(), keys_of(alice),
                                          {"shared": shared,
                                           "recipient": alice.identity.recipient()}]) == "started"
        start_conversation(page, [bob.email])
        send(page, f"shared computer: {shared}")
        # This round's message: the second round's page first shows the first round's,
        # already "Sent", before the new one is even sealed.
        expect(page.locator(".v2-message.mine", has_text=f"shared computer: {shared}")
               .locator(".state")).to_have_text("Sent")
        assert page.evaluate("localStorage.length") == stored

    page = new_page(server)
    page.context.add_cookies(cookies)
    page.goto("/about/")
    refused = page.evaluate(START_WITH, [bundle_url(), keys_of(alice),
                                         {"recipient": carol.identity.recipient()}])
    assert refused == "The directory does not list this identity's keys: stopping."
    expect(page.locator(".v2-status")).to_have_text(f"The chat could not start: {refused}")


def test_device_counters_and_previous_hashes_survive_a_reload(server, new_page):
    """Pure logic of the store, in Chromium: the device id and the per-conversation counter
    and previous hash live in localStorage per user, so a new instance goes on counting,
    and two tabs of one profile never take the same counter."""
    page = new_page(server)
    page.goto("/about/")
    result = page.evaluate("""async (url) => {
      const { DeviceState } = await import(url);
      const a = new DeviceState(7);
      const first = a.take("c1");
      a.sealed("c1", new Uint8Array(32).fill(9));
      const b = new DeviceState(7);
      const second = b.take("c1");
      return { same: a.deviceId.join() === b.deviceId.join(),
        other: new DeviceState(8).deviceId.join() !== a.deviceId.join(),
        first: String(first.counter), firstPrev: first.prevHash,
        second: String(second.counter), secondPrev: Array.from(second.prevHash).slice(0, 2),
        elsewhere: String(b.take("c2").counter),
        twoTabs: [a.take("c3"), b.take("c3"), a.take("c3")].map((t) => String(t.counter)) };
    }""", bundle_url())
    assert result == {"same": True, "other": True, "first": "1", "firstPrev": None,
                      "second": "2", "secondPrev": [9, 9], "elsewhere": "1",
                      "twoTabs": ["1", "2", "3"]}


def test_display_names_replace_addresses_and_a_shared_name_shows_both_addresses(
        server, transactional_db, new_page):
    """Contacts' display names show instead of their addresses (the address on hover and
    in the member list); two members who share a name (any case) both show their address,
    since a name proves nothing."""
    alice, bob, carol, dave = (signup(server, n) for n in ("alice", "bob", "carol", "dave"))
    for user, name in ((bob, "Sam"), (carol, "sam"), (dave, "Dave Dee")):
        r = user.http.put("/api/v1/me/display-name", json.dumps({"display_name": name}))
        assert r.status_code == 200, r.text
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [dave.email])
    reader = Reader(dave, conversation, [alice, dave])
    assert reader.group([alice, dave]).send(dave, "hi Alice").status_code == 201
    sender = page.locator(".v2-message.theirs .sender")
    expect(sender).to_have_text(["Dave Dee"])
    expect(sender).to_have_attribute("title", dave.email)
    expect(page.locator(f'.v2-members li[data-id="{dave.id}"]')).to_contain_text(
        f"Dave Dee {dave.email}")

    start_conversation(page, [bob.email, carol.email], name="Two Sams")
    expect(page.locator(f'.v2-members li[data-id="{bob.id}"]')).to_contain_text(
        f"Sam ({bob.email})")
    expect(page.locator(f'.v2-members li[data-id="{carol.id}"]')).to_contain_text(
        f"sam ({carol.email})")
    assert page.errors == []


def test_avatars_show_initials_beside_names_and_change_no_name_a_reader_hears(
        server, transactional_db, new_page):
    """Each sender and each conversation in the list has a coloured disc with initials
    (from the display name, else the address, else the group's name); the disc is drawn
    by CSS and hidden from screen readers, so names and accessible names stay as they
    were, and two people with the same initials keep different colours."""
    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    for user, name in ((bob, "Dave Dee"), (carol, "Dora Drum")):
        r = user.http.put("/api/v1/me/display-name", json.dumps({"display_name": name}))
        assert r.status_code == 200, r.text
    page = open_chat(new_page, server, alice)
    direct = start_conversation(page, [bob.email])
    assert Reader(bob, direct, [alice, bob]).group([alice, bob]).send(
        bob, "hi Alice").status_code == 201
    sender = page.locator(".v2-message.theirs .sender")
    expect(sender).to_have_text(["Dave Dee"])
    expect(sender.locator(".v2-avatar")).to_have_attribute("data-initials", "DD")
    expect(sender.locator(".v2-avatar")).to_have_attribute("aria-hidden", "true")
    drawn = sender.locator(".v2-avatar").evaluate(
        "(a) => getComputedStyle(a, '::before').content")
    assert drawn == '"DD"'
    start_conversation(page, [carol.email], name="book club")
    start_conversation(page, [carol.email])
    entries = page.locator(".v2-open")
    expect(entries).to_have_count(3)
    # Dora's display name arrives with the directory's answer: wait for it (retrying).
    expect(entries.locator('.v2-avatar[data-initials="DD"]')).to_have_count(2)
    expect(entries.locator('.v2-avatar[data-initials="BC"]')).to_have_count(1)
    # The list's buttons are still named by who, the newest message and its time.
    expect(page.get_by_role("button", name=re.compile(r"^book club"))).to_have_count(1)
    expect(page.get_by_role("button", name=re.compile(r"^Dave Dee"))).to_have_count(1)
    colours = {entries.nth(i).locator(".v2-avatar").evaluate(
        "(a) => getComputedStyle(a).backgroundColor") for i in range(3)}
    assert len(colours) >= 2  # Dave and Dora share initials, not necessarily a colour
    assert page.errors == []


def test_a_malformed_address_is_refused_in_the_page_and_an_unknown_one_can_be_invited(
        server, transactional_db, new_page):
    """A malformed address is refused before any request leaves the page; an address with
    no verified account gets the offer to invite it, whose mail carries a signup link."""
    from tests.browser.flows import wait_for_link

    alice = signup(server, "alice")
    page = open_chat(new_page, server, alice)
    api_calls = []
    page.on("request", lambda r: api_calls.append(r.url) if "/api/" in r.url else None)
    addresses = page.get_by_label("Email address(es), separated by commas")
    addresses.fill("bob@example, carol")
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#v2-new-error")).to_contain_text('"bob@example" is not an email address')
    assert api_calls == []

    newcomer = f"newcomer-{secrets.token_hex(4)}@example.com"
    addresses.fill(newcomer)
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#v2-new-error")).to_contain_text(
        f"No verified account has the address {newcomer}.")
    assert any("/api/v1/directory" in url for url in api_calls)  # control: this one asked
    page.get_by_role("button", name=f"Invite {newcomer}").click()
    expect(page.locator(".v2-invite-sent")).to_have_text(
        f"If {newcomer} has no SecureChat account yet, an invitation is on its way.")
    assert "/signup/?invitation=" in wait_for_link(server, newcomer, "/signup/?invitation=")
    assert page.errors == [], page.errors


def test_day_separators_follow_the_clock_and_one_senders_messages_group(
        server, transactional_db, new_page):
    """Separators say "Today", "Yesterday", the weekday within a week, then the date, as
    the page's clock (Playwright's) moves; consecutive messages of one sender show one
    name; each time shows the full timestamp on hover and to screen readers."""
    from datetime import UTC, datetime, timedelta

    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, alice, prepare=lambda p: p.clock.install())
    start_conversation(page, [bob.email])
    send(page, "first")
    send(page, "second")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent", "Sent"])
    day = page.locator(".v2-timeline .v2-day")
    expect(day).to_have_text(["Today"])
    expect(page.locator(".v2-message.continued")).to_have_count(1)
    sent_at = page.evaluate("Date.parse(document.querySelector('.v2-message time')"
                            ".getAttribute('datetime'))")
    when = datetime.fromtimestamp(sent_at / 1000, UTC)
    stamp = page.locator(".v2-message time").first
    expect(stamp).to_have_attribute("title", re.compile(f"{when:%A}, {when:%B} {when.day}, "
                                                        f"{when.year}"))
    assert stamp.get_attribute("aria-label") == stamp.get_attribute("title")

    for days, label in ((1, "Yesterday"), (3, f"{when:%A}"),
                        (10, f"{when:%a}, {when:%B} {when.day}")):
        page.clock.set_system_time(when + timedelta(days=days))
        page.clock.run_for(61_000)  # the view's minute timer relabels
        expect(day).to_have_text([label])
    assert page.errors == []


def test_links_open_safely_and_the_counter_refuses_a_long_message_before_sending(
        server, transactional_db, new_page):
    """http(s) links in a received message become links that open in a new tab without
    the opener or the referrer; other schemes stay text. Near the limit a counter shows
    what is left; over it, sending is refused in the page and the text is kept."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email])
    expect(page.locator("#v2-empty")).to_contain_text(f"your conversation with {bob.email}")
    expect(page.locator("#v2-empty")).to_contain_text("end-to-end encrypted")
    reader = Reader(bob, conversation, [alice, bob])
    text = "see https://example.org/a_(b). or javascript:alert(1) and http://x.test/?q=1"
    assert reader.group([alice, bob]).send(bob, text).status_code == 201
    message = page.locator(".v2-message.theirs .text")
    expect(message).to_have_text(text)
    expect(page.locator("#v2-empty")).to_be_hidden()
    links = message.locator("a")
    expect(links).to_have_count(2)
    assert [links.nth(i).get_attribute("href") for i in range(2)] == [
        "https://example.org/a_(b)", "http://x.test/?q=1"]
    for i in range(2):
        assert links.nth(i).get_attribute("rel") == "noopener noreferrer"
        assert links.nth(i).get_attribute("target") == "_blank"

    box = page.get_by_label("Message", exact=True)
    counter = page.locator("#v2-text-counter")
    box.fill("short")
    expect(counter).to_be_hidden()
    box.fill("x" * 30_000)
    expect(counter).to_have_text(re.compile(r"^[\d,]+ bytes left$"))
    box.fill("x" * 33_000)
    expect(counter).to_have_text(re.compile(r"^Too long by [\d,]+ bytes"))
    box.press("Enter")
    expect(page.locator("#v2-send-error")).to_contain_text("too long to send")
    expect(page.locator(".v2-message.mine")).to_have_count(0)
    assert box.input_value() == "x" * 33_000
    assert page.errors == []


def conversation_button(page, label: str):
    return page.locator(".v2-open", has_text=label)


def test_unread_messages_show_in_the_title_the_icon_and_a_notification_with_the_name_only(
        server, transactional_db, new_page):
    """A message in a conversation Alice is not looking at counts in the tab title and
    the icon's badge, and (notifications allowed and turned on) shows a notification with
    the sender's name only, or with the text once she opts in; opening the conversation
    clears the count. Notifications are read back from their "show" event."""
    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    page = open_chat(new_page, server, alice, prepare=lambda p: p.context.grant_permissions(
        ["notifications"], origin=server.url))
    group = start_conversation(page, [bob.email, carol.email], name="Trip")
    start_conversation(page, [bob.email])  # the open one from now on
    expect(page).to_have_title(re.compile(r"^[^(]"))
    page.get_by_text("Notifications", exact=True).click()
    page.get_by_label("Notify me of new messages while this tab is open").check()
    expect(page.get_by_label("Include the message text")).to_be_enabled()

    sender = Reader(bob, group, [alice, bob, carol]).group([alice, bob, carol])
    assert sender.send(bob, "where do we meet?").status_code == 201
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    expect(page.locator("#v2-favicon")).to_have_attribute("data-unread", "1")
    shown = "() => window.chat.view.notifier.shown"
    page.wait_for_function(f"({shown})().length === 1")
    assert page.evaluate(shown) == [{"conversation": group, "title": f"{bob.email} — SecureChat",
                                     "body": "New message"}]

    page.get_by_label("Include the message text").check()
    assert sender.send(bob, "at the station").status_code == 201
    expect(page).to_have_title(re.compile(r"^\(2\) "))
    page.wait_for_function(f"({shown})().length === 2")
    assert page.evaluate(shown)[1]["body"] == "at the station"

    conversation_button(page, "Trip").click()
    expect(page).to_have_title(re.compile(r"^[^(]"))
    expect(page.locator("#v2-favicon")).to_have_attribute("data-unread", "0")
    assert page.errors == []


def test_offline_shows_a_banner_and_messages_wait_then_go_out_once(
        server, transactional_db, new_page):
    """With the browser offline a banner says so and a typed message shows as waiting; back
    online, it is stored exactly once."""
    from messaging.models import MessageV2

    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email])
    banner = page.locator("#v2-offline")
    expect(banner).to_be_hidden()
    page.context.set_offline(True)
    expect(banner).to_have_text(re.compile("^You are offline"))
    send(page, "written on the train")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Waiting to send"])
    assert not MessageV2.objects.filter(conversation_id=conversation).exists()
    page.context.set_offline(False)
    expect(banner).to_be_hidden()
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])
    reader = Reader(bob, conversation, [alice, bob])
    assert reader.messages() == [(alice.id, "written on the train")]
    assert [e for e in page.errors if "offline" not in e.lower()] == []


STORED_EVERYWHERE = """async () => {
  const out = [];
  for (const area of [localStorage, sessionStorage]) {
    for (let i = 0; i < area.length; i += 1) out.push(area.key(i), area.getItem(area.key(i)));
  }
  const text = (value) => JSON.stringify(value, (key, v) => (v instanceof ArrayBuffer
    || ArrayBuffer.isView(v) ? new TextDecoder().decode(v) : v));
  for (const { name } of await indexedDB.databases()) {
    const db = await new Promise((ok, fail) => {
      const open = indexedDB.open(name);
      open.onsuccess = () => ok(open.result);
      open.onerror = () => fail(open.error);
    });
    for (const store of db.objectStoreNames) {
      const all = await new Promise((ok) => {
        const request = db.transaction(store).objectStore(store).getAll();
        request.onsuccess = () => ok(request.result);
      });
      out.push(text(all));
    }
    db.close();
  }
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      out.push(request.url, await (await cache.match(request)).text());
    }
  }
  return out.join("\\n");
}"""
PLANT = """async (marker) => {
  localStorage.setItem("planted", marker);
  await new Promise((ok) => {
    const open = indexedDB.open("planted");
    open.onupgradeneeded = () => open.result.createObjectStore("s");
    open.onsuccess = () => {
      const tx = open.result.transaction("s", "readwrite");
      tx.objectStore("s").put(new TextEncoder().encode(marker), 1);
      tx.oncomplete = () => { open.result.close(); ok(); };
    };
  });
  await (await caches.open("planted")).put("/planted", new Response(marker));
}"""
UNPLANT = """async () => {
  localStorage.removeItem("planted");
  await new Promise((ok) => { const r = indexedDB.deleteDatabase("planted"); r.onsuccess = ok; });
  await caches.delete("planted");
}"""


def test_search_finds_a_message_in_another_conversation_and_stores_nothing(
        server, transactional_db, new_page):
    """Searching (any case, accents ignored) finds a message in a conversation that is not
    open; Enter opens it with the message highlighted. The search stores nothing: no
    browser storage holds the message's marker after it or after the chat stops (a marker
    planted in localStorage, IndexedDB and Cache Storage is found, the control)."""
    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    marker = f"Zürich-{secrets.token_hex(4)}"
    page = open_chat(new_page, server, alice)
    with_bob = start_conversation(page, [bob.email])
    sender = Reader(bob, with_bob, [alice, bob]).group([alice, bob])
    assert sender.send(bob, f"the plan: meet in {marker} at noon").status_code == 201
    assert sender.send(bob, "unrelated").status_code == 201
    expect(texts(page)).to_have_count(2)
    start_conversation(page, [carol.email])  # now the open one
    expect(page.locator("#v2-title")).to_have_text(carol.email)

    page.bring_to_front()
    page.keyboard.press("Control+K")
    expect(page.get_by_label("Search messages")).to_be_focused()
    page.get_by_label("Search messages").fill(marker.upper().replace("Ü", "U"))
    results = page.locator(".v2-search-result")
    expect(results).to_have_count(1)
    expect(results.locator("mark")).to_have_text(marker)
    expect(results.locator(".v2-search-where")).to_have_text(f"{bob.email} · {bob.email}")
    page.get_by_label("Search messages").press("Enter")
    found = page.locator(".v2-message.v2-found")
    expect(found).to_contain_text(f"meet in {marker}")
    expect(found).to_be_in_viewport()
    assert page.evaluate("window.chat.engine.openId") == with_bob

    assert marker not in page.evaluate(STORED_EVERYWHERE)
    page.evaluate(PLANT, marker)  # the control: the same probe finds each planted copy
    stored = page.evaluate(STORED_EVERYWHERE)
    assert stored.count(marker) == 3, stored
    page.evaluate(UNPLANT)
    page.evaluate("window.chat.stop()")
    assert marker not in page.evaluate(STORED_EVERYWHERE)
    assert page.errors == []


def test_with_receipts_and_typing_off_the_client_sends_and_shows_none(
        server, transactional_db, new_page):
    """Privacy settings: with read receipts and typing hints off, Alice's page sends no
    read position and no typing hint, and shows no "Read"; turned back on, it does both
    (the controls)."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    sockets, frames, reads = [], [], []

    def watch(page):
        page.on("websocket", lambda ws: (sockets.append(ws),
                                         ws.on("framesent", lambda f: frames.append(f))))
        page.on("request", lambda r: reads.append(r.url) if r.url.endswith("/read") else None)

    page = open_chat(new_page, server, alice, prepare=watch)
    conversation = start_conversation(page, [bob.email])
    page.get_by_text("Privacy", exact=True).click()
    receipts = page.get_by_label("Send read receipts (and see others')")
    typing = page.get_by_label("Send typing hints (and see others')")
    receipts.uncheck()
    typing.uncheck()
    frames.clear()
    reads.clear()

    send(page, "hi Bob")  # typed and sent: a hint would go first, at the first keystroke
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])
    assert any('"send2"' in f for f in frames) and not any('"typing2"' in f for f in frames)
    seq = page.evaluate(f"window.chat.engine.conversations.get('{conversation}').lastSeq")
    r = bob.http.post(f"{BASE}/{conversation}/read", json.dumps({"seq": seq}))
    assert r.status_code == 200, r.text
    page.wait_for_function(f"(window.chat.engine.conversations.get('{conversation}')"
                           f".readPositions['{bob.id}'] ?? 0) >= {seq}")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])  # none shown
    sender = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    assert sender.send(bob, "hello Alice").status_code == 201
    expect(texts(page)).to_have_text(["hi Bob", "hello Alice"])
    page.locator(".v2-open").first.click()  # opening stores nothing while off
    send(page, "barrier")  # its ack comes after anything the click would have sent
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent", "Sent"])
    assert reads == []

    receipts.check()
    expect(page.locator(".v2-message.mine .state").first).to_have_text("Read")
    with page.expect_request(lambda r: r.url.endswith("/read")):
        page.locator(".v2-open").first.click()  # on again: opening stores the position
    typing.check()
    with sockets[-1].expect_event("framesent", lambda payload: '"typing2"' in payload):
        page.get_by_label("Message", exact=True).press_sequentially("typing again")
    assert page.errors == []


def test_keyboard_moves_between_conversations_and_esc_closes_the_verify_panel(
        server, transactional_db, new_page):
    """Alt+↓ / Alt+↑ open the next / previous conversation of the list (wrapping round);
    Esc closes the Verify panel."""
    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    page = open_chat(new_page, server, alice)
    start_conversation(page, [bob.email])
    expect(page.locator("#v2-title")).to_have_text(bob.email)
    start_conversation(page, [carol.email])
    expect(page.locator("#v2-title")).to_have_text(carol.email)
    order = page.locator(".v2-open .v2-open-label").all_inner_texts()
    at = order.index(carol.email)
    page.locator("body").press("Alt+ArrowDown")
    expect(page.locator("#v2-title")).to_have_text(order[(at + 1) % len(order)])
    page.locator("body").press("Alt+ArrowUp")
    expect(page.locator("#v2-title")).to_have_text(carol.email)

    page.get_by_role("button", name=f"Verify {carol.email}").click()
    panel = page.get_by_role("heading", name=f"Verify {carol.email}")
    expect(panel).to_be_visible()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    assert page.errors == []
