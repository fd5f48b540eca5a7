"""Going offline in the browser's v2 chat (issue 15 "Attention", must-show 1 "Offline").

Alice chats in Chromium with Bob (a Python client that verifies and opens what she
sends). Her pages load through a TCP proxy the module starts in front of the live
server (tests/support/tcpproxy.py ``CuttableProxy``), which can cut every connection
and refuse new ones, lose every answer the server sends while passing what Alice
sends (a silent, half-open connection), or refuse only the websocket. The server runs
behind the DESIGN.md §9 recorder, so the tests read which frames reached it; what it
stored is read from the database. The server's heartbeat is 1 s and the page is told
so (as the /v2/ shell tells it from its config): a silent connection is taken as dead
after 2.5 s (static/js/v2/chat/socket.js ``silenceLimitMs``).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from client import messagebox
from tests.browser.test_v2_accounts import browser_login
from tests.browser.test_v2_chat import (
    STORED_EVERYWHERE,
    Reader,
    bundle_url,
    keys_of,
    send,
    signup,
    start_conversation,
    texts,
)
from tests.browser.test_v2_upload_ux import wait_until
from tests.support.bundle import ensure_built
from tests.support.live import LiveServer
from tests.support.recorder import conversations, read_record
from tests.support.tcpproxy import CuttableProxy

pytestmark = [pytest.mark.browser]

HEARTBEAT = 1  # seconds, the module's server
SILENCE = 2.5  # seconds: silenceLimitMs(HEARTBEAT) in socket.js
START = """async ([url, keys, heartbeatSeconds]) => {
  const { startChat } = await import(url);
  const root = document.createElement("div");
  root.id = "v2-root";
  document.querySelector("main").replaceChildren(root);
  const seed = Uint8Array.from(atob(keys.signingSeed), (c) => c.charCodeAt(0));
  window.chat = await startChat(root, { ...keys, signingSeed: seed }, { heartbeatSeconds });
}"""
# The rows of the outbox's IndexedDB database (static/js/v2/chat/outbox.js), 0 without one.
OUTBOX_ROWS = """async () => {
  if (!(await indexedDB.databases()).some((d) => d.name === "securechat-v2-outbox")) return 0;
  const db = await new Promise((ok, fail) => {
    const open = indexedDB.open("securechat-v2-outbox");
    open.onsuccess = () => ok(open.result);
    open.onerror = () => fail(open.error);
  });
  const count = await new Promise((ok) => {
    const request = db.transaction("records").objectStore("records").count();
    request.onsuccess = () => ok(request.result);
  });
  db.close();
  return count;
}"""
MY_CLIENT_IDS = """(id) => window.chat.engine.conversations.get(id).items
  .filter((item) => item.mine).map((item) => [item.text, item.clientId])"""


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, redis_url, tmp_path_factory, test_bundle):
    """The module's uvicorn (behind the recorder; the shell from the test build of the
    bundles) and the proxy the pages load through."""
    ensure_built()
    live = LiveServer("uvicorn", tmp_path_factory.mktemp("v2-offline-server"), record=True,
                      extra_env={"SECURECHAT_RATE_SIGNUP_ADDRESS": "1000/3600",
                                 "SECURECHAT_TEST_BUNDLE_DIR": str(test_bundle.dir),
                                 "SECURECHAT_WS_HEARTBEAT_SECONDS": str(HEARTBEAT)})
    with CuttableProxy(live.port) as proxy:
        live.extra_env["SECURECHAT_ORIGINS"] = f"{live.url},{proxy.url}"
        live.start()
        try:
            yield SimpleNamespace(server=live, proxy=proxy)
        finally:
            proxy.restore()
            live.stop()


def start_chat(page, user, *, connected=True):
    """Runs the chat as ``user`` in ``page`` (a page of the proxy), as the shell does."""
    page.goto("/about/")
    page.evaluate(START, [bundle_url(), keys_of(user), HEARTBEAT])
    if connected:
        expect(page.locator(".v2-status")).to_have_text("Connected")


def open_chat(new_page, site, user):
    """A new browser context for ``user`` (its session cookie), its page through the proxy."""
    page = new_page(SimpleNamespace(url=site.proxy.url))
    page.context.add_cookies([{"name": c.name, "value": c.value, "url": site.proxy.url}
                              for c in user.http.api.http.cookies.jar])
    start_chat(page, user)
    return page


def send_frames(server, conversation: str) -> list[dict]:
    """Every send2 frame for ``conversation`` that reached the server, in order."""
    out = []
    for conn in conversations(read_record(server.record_path)):
        for frame in conn.frames_in:
            data = json.loads(frame)
            if data.get("type") == "send2" and data.get("conversation") == conversation:
                out.append(data)
    return out


def sent_client_ids(server, conversation: str) -> list[str]:
    """The client message id (hex) of every send2 frame for ``conversation`` that reached
    the server, in order."""
    return [messagebox.parse_statement(base64.b64decode(f["statement"])).client_message_id.hex()
            for f in send_frames(server, conversation)]


def stored(conversation: str, sender) -> list[str]:
    """The client message ids (hex) the server stored from ``sender``, in seq order."""
    from messaging.models import MessageV2

    rows = MessageV2.objects.filter(conversation_id=conversation, sender_id=sender.id)
    return [bytes(r).hex() for r in rows.order_by("seq").values_list("client_message_id",
                                                                      flat=True)]


def states(page):
    return page.locator(".v2-message.mine .state")


def test_offline_in_the_browser_messages_wait_survive_a_reload_and_go_out_once_in_order(
        site, transactional_db, new_page):
    """The browser goes offline (its `offline` event): the banner says so at once and two
    messages Alice types show as waiting; nothing reaches the server. Meanwhile Bob makes
    a new epoch. Back online with the websocket still refused, she reloads: both are there
    again, waiting, in order; once the websocket is back each is sent once (sealed only
    now, under Bob's epoch) and stored exactly once, in order, and the outbox is empty."""
    from messaging.models import MessageV2

    alice, bob = signup(site.server, "alice"), signup(site.server, "bob")
    page = open_chat(new_page, site, alice)
    conversation = start_conversation(page, [bob.email])
    banner = page.locator("#v2-offline")
    expect(banner).to_be_hidden()

    page.context.set_offline(True)
    expect(banner).to_have_text(re.compile("^You are offline"))
    send(page, "written on the train")
    send(page, "and in the tunnel")
    expect(states(page)).to_have_text(["Waiting to send"] * 2)
    wait_until(page, lambda: page.evaluate(OUTBOX_ROWS) == 2, "both kept in the outbox")
    assert sent_client_ids(site.server, conversation) == [] and stored(conversation, alice) == []
    bobs = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    assert bobs.new_epoch(bob).status_code == 201
    new_epoch = bobs.epoch.number

    site.proxy.block_websockets()  # pages load again, the chat's socket does not
    page.context.set_offline(False)
    start_chat(page, alice, connected=False)
    page.locator(".v2-open").click()  # her one conversation (Bob's epoch named it)
    expect(texts(page)).to_have_text(["written on the train", "and in the tunnel"])
    expect(states(page)).to_have_text(["Waiting to send"] * 2)
    assert sent_client_ids(site.server, conversation) == [] and stored(conversation, alice) == []

    site.proxy.restore()
    expect(states(page)).to_have_text(["Sent"] * 2)
    mine = dict(page.evaluate(MY_CLIENT_IDS, conversation))
    assert stored(conversation, alice) == [mine["written on the train"], mine["and in the tunnel"]]
    assert sent_client_ids(site.server, conversation) == stored(conversation, alice)  # once each
    assert set(MessageV2.objects.filter(conversation_id=conversation).values_list(
        "epoch_number", flat=True)) == {new_epoch}
    assert not page.locator(".v2-warnings li").count()  # no gap in Alice's device counter
    assert Reader(bob, conversation, [alice, bob]).messages() == [
        (alice.id, "written on the train"), (alice.id, "and in the tunnel")]
    assert page.evaluate(OUTBOX_ROWS) == 0


def test_cut_by_the_network_nothing_is_lost_and_an_unacknowledged_send_is_stored_once(
        site, transactional_db, new_page):
    """The proxy cuts every connection: the banner shows within the heartbeat timeout,
    three messages Alice types wait and none reaches the server; she closes the tab.
    Back, a new tab of the same browser sends all three, once each, in order. Then the
    proxy loses every answer of the server while passing what Alice sends (a silent
    connection): her next message reaches the server but its ack does not; the banner
    shows within the heartbeat timeout, the message waits, and once back it is sent again
    under the same client message id and stored once."""
    alice, bob = signup(site.server, "alice"), signup(site.server, "bob")
    page = open_chat(new_page, site, alice)
    context = page.context
    conversation = start_conversation(page, [bob.email])
    send(page, "before the cut")
    expect(states(page)).to_have_text(["Sent"])
    mine = dict(page.evaluate(MY_CLIENT_IDS, conversation))
    # The control: the recorder shows the frame that reached the server.
    assert sent_client_ids(site.server, conversation)[-1:] == [mine["before the cut"]]
    frames_before = len(sent_client_ids(site.server, conversation))
    banner = page.locator("#v2-offline")

    site.proxy.cut()
    expect(banner).to_have_text(re.compile("^The connection to the server was lost"),
                                timeout=SILENCE * 1000)
    waiting = ["one", "two", "three"]
    for text in waiting:
        send(page, text)
    expect(states(page)).to_have_text(["Sent", *["Waiting to send"] * 3])
    wait_until(page, lambda: page.evaluate(OUTBOX_ROWS) == 3, "all three in the outbox")
    page.close()
    assert len(sent_client_ids(site.server, conversation)) == frames_before
    assert stored(conversation, alice) == [mine["before the cut"]]

    site.proxy.restore()
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    start_chat(page, alice)
    page.locator(".v2-open").click()
    expect(texts(page)).to_have_text(["before the cut", *waiting])
    expect(states(page)).to_have_text(["Sent"] * 4)
    mine.update((text, client) for text, client in page.evaluate(MY_CLIENT_IDS, conversation)
                if client)  # the earlier one now comes from the history
    assert stored(conversation, alice) == [mine[t] for t in ["before the cut", *waiting]]

    site.proxy.mute_replies()
    muted_at = time.monotonic()
    send(page, "four")
    wait_until(page, lambda: len(stored(conversation, alice)) == 5, "four stored")
    page.wait_for_function("() => !document.getElementById('v2-offline').hidden",
                           polling=50, timeout=(SILENCE + 1) * 1000)
    noticed = time.monotonic() - muted_at
    banner = page.locator("#v2-offline")
    expect(banner).to_have_text(re.compile("^The connection to the server was lost"))
    print(f"silent connection noticed after {noticed:.2f} s (limit {SILENCE} s)")
    assert noticed < SILENCE + 1
    expect(states(page)).to_have_text(["Sent"] * 4 + ["Waiting to send"])
    four = dict(page.evaluate(MY_CLIENT_IDS, conversation))["four"]
    assert sent_client_ids(site.server, conversation).count(four) == 1

    site.proxy.restore()
    expect(states(page)).to_have_text(["Sent"] * 5)
    expect(banner).to_be_hidden()
    assert sent_client_ids(site.server, conversation).count(four) == 2  # sent again, the same id
    assert stored(conversation, alice) == [mine[t] for t in ["before the cut", *waiting]] + [four]
    assert [text for _, text in Reader(bob, conversation, [alice, bob]).messages()] == [
        "before the cut", *waiting, "four"]
    assert page.evaluate(OUTBOX_ROWS) == 0
    assert page.errors == []


def test_logging_out_warns_about_waiting_messages_and_deletes_them_from_the_browser(
        site, transactional_db, new_page):
    """Alice logs in through the shell; her websocket is refused and a message waits: it is
    in the outbox, sealed (its text is nowhere in the browser's storage). "Log out" asks
    "1 message has not been sent; log out anyway?"; saying no keeps her signed in and the
    message kept, saying yes logs her out and IndexedDB holds no outbox record; the
    message never reaches the server."""
    alice, bob = signup(site.server, "alice"), signup(site.server, "bob")
    page = new_page(SimpleNamespace(url=site.proxy.url))
    questions, answers = [], [False, True]

    def answer(dialog):
        questions.append(dialog.message)
        dialog.accept() if answers.pop(0) else dialog.dismiss()

    page.on("dialog", answer)
    browser_login(page, alice.email)
    from messaging.models import MemberV2

    expect(page.locator(".v2-status")).to_have_text("Connected")
    page.get_by_label("Email address(es), separated by commas").fill(bob.email)
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator(".v2-conversation")).to_be_visible()
    conversation = MemberV2.objects.get(user_id=alice.id).conversation_id
    marker = f"unsent-{secrets.token_hex(4)}"
    site.proxy.block_websockets()
    try:
        send(page, marker)
        expect(states(page)).to_have_text(["Waiting to send"])
        wait_until(page, lambda: page.evaluate(OUTBOX_ROWS) == 1, "kept in the outbox")
        assert marker not in page.evaluate(STORED_EVERYWHERE)  # sealed under the device key

        page.get_by_role("button", name="Log out").click()
        wait_until(page, lambda: len(questions) == 1, "the question")
        expect(page.locator("#v2-home-email")).to_have_text(alice.email)  # stayed
        assert page.evaluate(OUTBOX_ROWS) == 1
        page.get_by_role("button", name="Log out").click()
        expect(page.locator("#v2-login")).to_be_visible()
        assert questions == ["1 message has not been sent; log out anyway? It will be "
                             "deleted from this browser."] * 2
        assert page.evaluate(OUTBOX_ROWS) == 0
    finally:
        site.proxy.restore()
    assert stored(conversation, alice) == []


def test_a_message_refused_under_an_epoch_that_changed_on_the_way_is_sealed_again_once(
        site, transactional_db, new_page):
    """What Alice sends is lost on the way (the proxy drops it) while Bob makes a new
    epoch: her sealed message names the old one. The page takes the silent connection as
    dead; once back it sends the same frame again, which the server refuses as stale
    without storing it, so the page seals it again under the new epoch with the same
    client message id and device counter: stored once, no message shows as missing."""
    from messaging.models import MessageV2

    alice, bob = signup(site.server, "alice"), signup(site.server, "bob")
    page = open_chat(new_page, site, alice)
    conversation = start_conversation(page, [bob.email])
    bobs = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    old_epoch = bobs.epoch.number

    site.proxy.lose_requests()
    send(page, "lost on the way")
    wait_until(page, lambda: page.evaluate(
        "(id) => window.chat.engine.conversations.get(id).items.at(-1).frame !== null",
        conversation), "the message sealed and sent")
    assert bobs.new_epoch(bob).status_code == 201
    expect(page.locator("#v2-offline")).to_have_text(
        re.compile("^The connection to the server was lost"), timeout=(SILENCE + 1) * 1000)
    expect(states(page)).to_have_text(["Waiting to send"])
    assert sent_client_ids(site.server, conversation) == []

    site.proxy.restore()
    expect(states(page)).to_have_text(["Sent"])
    client_id = dict(page.evaluate(MY_CLIENT_IDS, conversation))["lost on the way"]
    # Refused (stale), then sealed again: the same id twice, one row.
    assert sent_client_ids(site.server, conversation) == [client_id, client_id]
    sealed = [messagebox.parse_statement(base64.b64decode(f["statement"])).context
              for f in send_frames(site.server, conversation)]
    assert [(c.epoch, c.device_counter) for c in sealed] == [
        (old_epoch, 1), (old_epoch + 1, 1)]
    row = MessageV2.objects.get(conversation_id=conversation)
    assert (bytes(row.client_message_id).hex(), row.epoch_number) == (client_id, old_epoch + 1)
    assert Reader(bob, conversation, [alice, bob]).messages() == [(alice.id, "lost on the way")]
    assert not page.locator(".v2-warnings li").count()


def test_a_second_tab_leaves_the_first_tabs_waiting_messages_to_it_until_it_is_closed(
        site, transactional_db, new_page):
    """While the websocket is refused, Alice types a message in one tab and opens a second:
    the second does not take the first one's waiting message (two tabs would each seal
    it). Once the first tab is closed, the second, reloaded, shows it waiting and sends it:
    stored once, and no message shows as missing."""
    alice, bob = signup(site.server, "alice"), signup(site.server, "bob")
    first = open_chat(new_page, site, alice)
    conversation = start_conversation(first, [bob.email])
    site.proxy.block_websockets()
    try:
        send(first, "typed in the first tab")
        expect(states(first)).to_have_text(["Waiting to send"])
        wait_until(first, lambda: first.evaluate(OUTBOX_ROWS) == 1, "kept in the outbox")
        second = first.context.new_page()
        start_chat(second, alice, connected=False)
        second.locator(".v2-open").click()
        expect(second.locator(".v2-conversation")).to_be_visible()
        expect(texts(second)).to_have_count(0)
        assert second.evaluate(OUTBOX_ROWS) == 1  # there, and left to the first tab

        first.close()
        start_chat(second, alice, connected=False)  # a reload
        second.locator(".v2-open").click()
        expect(texts(second)).to_have_text(["typed in the first tab"])
        expect(states(second)).to_have_text(["Waiting to send"])
    finally:
        site.proxy.restore()
    expect(states(second)).to_have_text(["Sent"])
    client_id = dict(second.evaluate(MY_CLIENT_IDS, conversation))["typed in the first tab"]
    assert stored(conversation, alice) == [client_id]
    assert sent_client_ids(site.server, conversation) == [client_id]
    assert not second.locator(".v2-warnings li").count()
