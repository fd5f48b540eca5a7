"""File messages in the browser's version 2 chat (static/js/v2/chat/, issues 13/14).

One live server for the module. Each browser user runs the chat in a page of the live
server (its strict CSP applies), started as the /v2/ shell starts it: ``startChat`` with
the user's keys and the encrypt worker's bundle. The other member is a Python client
(``client/``): it reads what the page sealed with its own keys, downloads the upload and
decrypts it with agecrypt; its own file messages are real age files uploaded with tuspy
through the ciphertext tus mode. Files the page sends are made in the page.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os

import httpx
import pytest
from playwright.sync_api import expect
from tusclient import client as tus_client

import agecrypt
from client import fileclaim, filehash, messagebox
from filestore.models import CipherUpload
from tests.browser.test_v2_chat import (
    BASE,
    HEARTBEAT,
    ChainedGroup,
    Reader,
    keys_of,
    signup,
    start_conversation,
)
from tests.filestore.v2_support import age_file, path_of, upload_id
from tests.support.bundle import BUNDLE_DIR, ensure_built
from tests.support.live import LiveServer
from tests.support.v2chat import V2User, b64

pytestmark = [pytest.mark.browser]

FORGERY = "This file does not match what its sender sent (forgery?)"
SIZE = 300 * 1024 + 17  # a few hundred KiB, several age chunks, the last one partial
START = """async ([url, keys, encryptWorker, files]) => {
  const { startChat } = await import(url);
  const root = document.createElement("div");
  root.id = "v2-root";
  document.querySelector("main").replaceChildren(root);
  const seed = Uint8Array.from(atob(keys.signingSeed), (c) => c.charCodeAt(0));
  window.chat = await startChat(root, { ...keys, signingSeed: seed }, { encryptWorker, files });
}"""
# A File of `size` bytes made in the page by the rule of pattern() below.
MAKE_FILE = """([size, name]) => {
  const bytes = new Uint8Array(size);
  for (let j = 0; j < size; j++) bytes[j] = (j * 31 + (j >> 9)) % 251;
  return new File([bytes], name, { type: "application/octet-stream" });
}"""
ATTACH = f"""([size, name]) => {{
  const file = ({MAKE_FILE})([size, name]);
  const transfer = new DataTransfer();
  transfer.items.add(file);
  const input = document.getElementById("v2-attach");
  input.files = transfer.files;
  input.dispatchEvent(new Event("change", {{ bubbles: true }}));
}}"""
DROP = f"""([size, name]) => {{
  const transfer = new DataTransfer();
  transfer.items.add(({MAKE_FILE})([size, name]));
  document.querySelector(".v2-conversation").dispatchEvent(
    new DragEvent("drop", {{ dataTransfer: transfer, bubbles: true, cancelable: true }}));
}}"""


def pattern(size: int) -> bytes:
    return bytes((j * 31 + (j >> 9)) % 251 for j in range(size))


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, redis_url, tmp_path_factory):
    """One uvicorn for the module, on the test database (tests commit: transactional_db)."""
    ensure_built()
    live = LiveServer("uvicorn", tmp_path_factory.mktemp("v2-file-messages"),
                      extra_env={"SECURECHAT_RATE_SIGNUP_ADDRESS": "1000/3600",
                                 "SECURECHAT_WS_HEARTBEAT_SECONDS": str(HEARTBEAT)}).start()
    yield live
    live.stop()


def entry(name: str) -> dict:
    return json.loads((BUNDLE_DIR / "manifest.json").read_text())["entries"][name]


def open_chat(new_page, server, user: V2User, files: dict | None = None):
    """A page of the live server running the v2 chat as ``user``, file messages enabled;
    ``files``: the shell config's "files" (tests/browser/file_pages.py), else none (no
    download Service Worker, no PDF previews)."""
    page = new_page(server)
    page.context.add_cookies([{"name": c.name, "value": c.value, "url": server.url}
                              for c in user.http.api.http.cookies.jar])
    page.goto("/about/")
    worker = entry("v2/files/encrypt-worker")
    page.evaluate(START, ["/static/dist/" + entry("v2/chat/index")["file"], keys_of(user),
                          {"url": "/static/dist/" + worker["file"],
                           "integrity": worker["integrity"]}, files])
    expect(page.locator(".v2-status")).to_have_text("Connected")
    return page


def file_documents(reader: Reader) -> list[tuple[int, str, dict]]:
    """(sender, statement kind, opened document) of every message, verified by ``reader``."""
    items = reader.user.http.json(f"{BASE}/{reader.id}/timeline?after=0")["items"]
    out = []
    for item in items:
        if item["type"] != "message":
            continue
        opened = reader.epochs[item["epoch"]]
        context = messagebox.MessageContext(
            reader.cid, item["epoch"], opened.statement.envelope_hash, item["sender"],
            reader.by_id[item["sender"]].generation, bytes.fromhex(item["device_id"]),
            item["counter"])
        box = base64.b64decode(item["box"])
        statement = base64.b64decode(item["statement"])
        messagebox.verify_statement(reader.by_id[item["sender"]].ed25519, statement,
                                    base64.b64decode(item["signature"]), context=context, box=box)
        doc = messagebox.parse_plaintext(messagebox.open_box(opened.secret, context, box))
        out.append((item["sender"], messagebox.parse_statement(statement).kind, doc))
    return out


def tus_upload(user: V2User, server, data: bytes) -> str:
    """Uploads ``data`` with tuspy (ciphertext mode: no metadata) as ``user``; its id."""
    cookies = "; ".join(f"{c.name}={c.value}" for c in user.http.api.http.cookies.jar)
    headers = {"Cookie": cookies, "X-CSRFToken": user.http.api.fetch_csrf(),
               "Origin": server.url}
    uploader = tus_client.TusClient(server.url + "/api/v1/uploads/", headers=headers).uploader(
        file_stream=io.BytesIO(data), retries=0, chunk_size=len(data) + 1)
    uploader.upload()
    return upload_id(path_of(uploader.url))


def send_file(group: ChainedGroup, sender: V2User, doc: dict, kind: str = "file"):
    """A Python client's file message (statement kind ``kind``; for "file" with its signed
    file claim), chained to the sender's previous message as a real client's is."""
    epoch = group.epoch
    counter = group.counters[sender.id] = group.counters.get(sender.id, 0) + 1
    context = messagebox.MessageContext(
        group.conversation_id, epoch.number, epoch.envelope_hash, sender.id,
        sender.keys.generation, sender.device_id, counter)
    box = messagebox.seal(epoch.secret, context, json.dumps(doc).encode())
    client_message_id = os.urandom(16)
    statement = messagebox.build_statement(
        context, box, client_message_id=client_message_id, kind=kind,
        prev_hash=group.previous.get(sender.id, bytes(32)))
    data, signature = messagebox.sign_statement(sender.signing_key, statement)
    group.previous[sender.id] = messagebox.message_hash(data)
    claim = fileclaim.FileClaim(group.conversation_id, client_message_id,
                                fileclaim.upload_id_bytes(doc["upload_id"]), sender.id,
                                sender.keys.generation)
    claim_data, claim_signature = fileclaim.sign_file_claim(sender.signing_key, claim)
    body = {"box": b64(box), "statement": b64(data), "signature": b64(signature)}
    if kind == "file":
        body["file_claim"] = {"statement": b64(claim_data), "signature": b64(claim_signature)}
    return sender.http.post(group.url("messages"), json.dumps(body))


def test_a_browser_file_message_is_read_and_decrypted_by_a_python_client(
        server, transactional_db, new_page):
    """Alice (Chromium) attaches a file made in the page through "Attach a file" and drops
    another onto the conversation: each shows at once with its name and size, is uploaded
    encrypted and sent as a signed file message. Bob's Python client verifies both
    messages (statement kind "file"), downloads each upload, finds its file hash, and
    decrypts it with agecrypt and the message's one-time identity to exactly the bytes."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email])
    name = "v2-file-message-marker.bin"
    page.evaluate(ATTACH, [SIZE, name])
    expect(page.locator(".v2-message.mine .file-name")).to_have_text([name])
    expect(page.locator(".v2-message.mine .file-size")).to_have_text(["307 kB"])
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])
    page.evaluate(DROP, [999, "dropped.txt"])
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent", "Sent"])
    expect(page.get_by_role("button", name=f"Download {name}")).to_be_visible()
    progress = page.evaluate("window.chat.engine.conversations.get(window.chat.engine.openId)"
                             ".items.filter((i) => i.file).map((i) => i.progress)")
    assert all(p["sent"] == p["total"] > 0 for p in progress), progress

    documents = file_documents(Reader(bob, conversation, [alice, bob]))
    assert [(s, k, d["type"], d["name"]) for s, k, d in documents] == [
        (alice.id, "file", "file", name), (alice.id, "file", "file", "dropped.txt")]
    for (_, _, doc), size in zip(documents, (SIZE, 999), strict=True):
        assert (doc["v"], doc["mime"], doc["size"]) == (2, "application/octet-stream", size)
        r = bob.http.get(f"/api/v1/files/{doc['upload_id']}")
        assert r.status_code == 200, r.text
        assert len(r.content) == doc["length"]
        assert filehash.file_hash(r.content).hex() == doc["file_hash"]
        identities = agecrypt.parse_identities(doc["identity"])
        assert agecrypt.decrypt(r.content, identities) == pattern(size)
    assert name not in json.dumps([u.blob_name for u in CipherUpload.objects.all()])
    assert page.errors == []


def test_a_python_file_message_downloads_under_a_safe_name_and_a_forgery_saves_nothing(
        server, transactional_db, new_page, tmp_path):
    """Bob (Python) sends an age file named ``../../evil\\u202etxt.exe``: Alice's page shows
    and saves it as "eviltxt.exe" with exactly its bytes. After one byte of the stored
    blob is flipped, Download shows the forgery message and no download starts. The same
    document signed as a text message (which the server lets through without a file
    claim) fails verification in the page and offers no download."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email])
    group = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    data = os.urandom(200 * 1024 + 3)
    sealed, identity = age_file(data)
    upload = tus_upload(bob, server, sealed)
    doc = {"v": 2, "type": "file", "name": "../../evil\u202etxt.exe", "mime": "text/plain",
           "size": len(data), "length": len(sealed), "upload_id": upload,
           "identity": str(identity), "file_hash": filehash.file_hash(sealed).hex()}
    r = send_file(group, bob, doc)
    assert r.status_code == 201, r.text

    expect(page.locator(".v2-message.theirs .file-name")).to_have_text(["eviltxt.exe"])
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    with page.expect_download() as info:
        page.get_by_role("button", name="Download eviltxt.exe").click()
    download = info.value
    assert download.suggested_filename == "eviltxt.exe"
    assert hashlib.sha256(open(download.path(), "rb").read()).digest() == \
        hashlib.sha256(data).digest()
    assert len(downloads) == 1  # positive control for the count below

    blob = server.media_root / CipherUpload.objects.get(pk=upload).blob_name
    tampered = bytearray(sealed)
    tampered[len(sealed) - 70_000] ^= 0x01
    blob.write_bytes(bytes(tampered))
    page.get_by_role("button", name="Download eviltxt.exe").click()
    expect(page.locator(".v2-download-error")).to_have_text(FORGERY)
    page.wait_for_timeout(300)
    assert len(downloads) == 1
    assert len(page.errors) == 1 and "file download failed" in page.errors[0], page.errors

    r = send_file(group, bob, {**doc, "name": "smuggled.bin"}, kind="text")
    assert r.status_code == 201, r.text
    expect(page.locator(".v2-message.theirs")).to_have_count(2)
    expect(page.locator(".v2-message.theirs.failed .text")).to_have_text(
        ["This message failed verification and is not shown."])
    expect(page.get_by_role("button", name="Download smuggled.bin")).to_have_count(0)
    expect(page.locator(".v2-warning.v2-verify")).to_contain_text(
        ["the signed kind does not match the message"])


CASES = [
    ("../../evil\u202etxt.exe", "eviltxt.exe"),
    ("a\\b\\c.txt", "c.txt"),
    ("..", "file"),
    (".", "file"),
    ("", "file"),
    ("nul\u0000and\u001bcontrol\u007f.txt", "nulandcontrol.txt"),
    ("\u2066iso\u2069late\u200f.pdf", "isolate.pdf"),
    (".hidden", "hidden"),
    ("trailing. . ", "trailing"),
    ("what?.txt", "what_.txt"),
    ("Été – résumé.pdf", "Été – résumé.pdf"),
    ("x" * 200 + ".jpeg", "x" * 145 + ".jpeg"),
    ("y" * 200, "y" * 150),
    ("😀" * 151, "😀" * 150),
]


def test_safe_file_name_in_chromium(server, transactional_db, new_page):
    """safeFileName (static/js/v2/chat/filename.js) on hostile and ordinary names; the
    /v2/ shell names the encrypt worker's bundle the chat is started with."""
    page = new_page(server)
    page.goto("/about/")
    got = page.evaluate("""async ([url, names]) => {
      const { safeFileName } = await import(url);
      return names.map((n) => safeFileName(n)).concat([safeFileName(null)]);
    }""", ["/static/dist/" + entry("v2/chat/index")["file"], [c[0] for c in CASES]])
    assert got == [c[1] for c in CASES] + ["file"]

    html = httpx.get(server.url + "/").text  # the shell (was /v2/ before the cutover)
    worker = entry("v2/files/encrypt-worker")
    assert f'data-encrypt-worker-url="/static/dist/{worker["file"]}"' in html
    assert f'data-encrypt-worker-integrity="{worker["integrity"]}"' in html
