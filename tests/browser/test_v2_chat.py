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
import json
import secrets

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from client import derivation, epochs, membership, messagebox, recovery
from client.identity import IdentityFile, wrap_to_recovery, wrap_with_passphrase
from tests.support.bundle import BUNDLE_DIR, ensure_built
from tests.support.clients import ApiClient
from tests.support.live import LiveServer
from tests.support.v2chat import PASSWORD, TEST_FLOOR, Epoch, Group, V2User, b64, b64url

pytestmark = [pytest.mark.browser]

BASE = "/api/v1/v2/conversations"
START = """async ([url, keys]) => {
  const { startChat } = await import(url);
  const root = document.createElement("div");
  root.id = "v2-root";
  document.querySelector("main").replaceChildren(root);
  const seed = Uint8Array.from(atob(keys.signingSeed), (c) => c.charCodeAt(0));
  window.chat = await startChat(root, { ...keys, signingSeed: seed });
}"""


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, redis_url, tmp_path_factory):
    """One uvicorn for the module, on the test database (tests commit: transactional_db)."""
    ensure_built()
    live = LiveServer("uvicorn", tmp_path_factory.mktemp("v2-chat-server")).start()
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


def bundle_url() -> str:
    manifest = json.loads((BUNDLE_DIR / "manifest.json").read_text())
    return "/static/dist/" + manifest["entries"]["v2/chat/index"]["file"]


def open_chat(new_page, server, user: V2User):
    """A page of the live server running the v2 chat as ``user`` (its session cookie)."""
    page = new_page(server)
    page.context.add_cookies([{"name": c.name, "value": c.value, "url": server.url}
                              for c in user.http.api.http.cookies.jar])
    page.goto("/about/")
    page.evaluate(START, [bundle_url(), keys_of(user)])
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
            if statement.entry(user.id) is not None:
                self.epochs[row["number"]] = epochs.open_epoch(
                    *parts, me=user.keys, identity=user.identity.current_identity,
                    chain=self.chain, key_lookup=self.lookup, previous=previous)
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
        return Group(members[0], members, conversation_id=self.cid, head=state.head,
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
