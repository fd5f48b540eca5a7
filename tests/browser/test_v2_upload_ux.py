"""Uploads in the browser's /v2/ shell (issue 14): the resume record sealed under the
device key, resuming after a reload, paste, the warning before leaving, logout and cancel.

One live server for the module, serving the test build of the bundles (the shell's
login derives at the test work factor). A v2 user signed up with the Python client logs
in through the shell and starts a conversation with another; files are attached as a
user attaches them (the labelled file input, a file on disk), so a reload followed by
attaching the same file again is what a user does. Slow uploads are made with Chromium's
own network throttling (CDP), and "what the server has" is read from its rows and disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

import pytest
from playwright.sync_api import expect

from filestore.models import CipherUpload
from tests.accounts import clear_rate_limits
from tests.browser.test_v2_accounts import browser_login
from tests.browser.test_v2_chat import Reader, signup
from tests.browser.test_v2_file_messages import file_documents
from tests.filestore.v2_support import upload_id
from tests.support.bundle import build
from tests.support.live import LiveServer

pytestmark = [pytest.mark.browser]

PATCH = 8 * 1024 * 1024  # static/js/v2/files/upload.js PATCH_SIZE
CHUNK = 64 * 1024
SEALED_CHUNK = CHUNK + 16
ATTACH = "Attach a file (or drop files on the conversation)"
SLOW = 2 * 1024 * 1024  # bytes per second while an upload is to be caught mid-transfer

# Every IndexedDB database, localStorage and sessionStorage of the page, bytes as arrays.
DUMP_STORAGE = """async () => {
  const rows = [];
  for (const { name } of await indexedDB.databases()) {
    const db = await new Promise((ok, fail) => {
      const r = indexedDB.open(name); r.onsuccess = () => ok(r.result); r.onerror = fail; });
    for (const store of db.objectStoreNames) {
      const all = await new Promise((ok, fail) => {
        const r = db.transaction(store).objectStore(store).getAll();
        r.onsuccess = () => ok(r.result); r.onerror = fail; });
      for (const row of all) {
        rows.push(Object.fromEntries(Object.entries(row).map(([k, v]) =>
          [k, ArrayBuffer.isView(v) || v instanceof ArrayBuffer
            ? Array.from(new Uint8Array(v.buffer ?? v)) : v])));
      }
    }
    db.close();
  }
  return { indexedDB: rows, localStorage: { ...localStorage },
           sessionStorage: { ...sessionStorage } };
}"""
# The resume records as the page's own store opens them (with the session's device key).
OPEN_RECORDS = """async ([url, userId]) => {
  const f = await import(url);
  return (await f.ResumeStore.open(userId)).all();
}"""


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, redis_url, tmp_path_factory):
    """One uvicorn for the module, serving the test build of the bundles."""
    bundles = tmp_path_factory.mktemp("upload-ux-bundle")
    manifest = build(bundles, test_variant=True)
    with django_db_blocker.unblock():
        live = LiveServer(kind="uvicorn", workdir=tmp_path_factory.mktemp("upload-ux-server"),
                          extra_env={"SECURECHAT_TEST_BUNDLE_DIR": str(bundles),
                                     "SECURECHAT_RATE_SIGNUP_ADDRESS": "1000/3600"})
        live.start()
    live.files_url = f"/static/test-bundle/{manifest['entries']['v2/files/index']['file']}"
    yield live
    live.stop()


@pytest.fixture
def fresh_database(transactional_db, redis_url):
    clear_rate_limits()
    yield
    clear_rate_limits()


class Chat:
    """Alice's shell page, signed in, in a direct conversation with Bob."""

    def __init__(self, server, new_page):
        self.server = server
        self.alice, self.bob = signup(server, "alice"), signup(server, "bob")
        self.page = new_page(server)
        self.dialogs: list[str] = []
        self.answer = True  # how the next dialog is answered
        self.page.on("dialog", self._dialog)
        browser_login(self.page, self.alice.email)
        expect(self.page.locator(".v2-status")).to_have_text("Connected")
        self.page.get_by_label("Email address(es), separated by commas").fill(self.bob.email)
        self.page.get_by_role("button", name="Start conversation").click()
        expect(self.page.locator(".v2-conversation")).to_be_visible()
        self.conversation = self.page.locator(".v2-open[aria-current=true]").get_attribute(
            "data-id")
        self.cdp = self.page.context.new_cdp_session(self.page)
        self.cdp.send("Network.enable")

    def _dialog(self, dialog):
        self.dialogs.append(dialog.type)
        if self.answer:
            dialog.accept()
        else:
            dialog.dismiss()

    def throttle(self, bytes_per_second: int) -> None:
        self.cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second})

    def attach(self, path) -> None:
        self.page.get_by_label(ATTACH).set_input_files(str(path))

    def reopen(self) -> None:
        """After a reload: the shell unlocks from the device blob; open the conversation."""
        expect(self.page.locator(".v2-status")).to_have_text("Connected")
        self.page.locator(f".v2-open[data-id='{self.conversation}']").click()
        expect(self.page.locator(".v2-conversation")).to_be_visible()

    def uploads(self) -> list[CipherUpload]:
        return list(CipherUpload.objects.filter(user_id=self.alice.id).order_by("created_at"))

    def records(self) -> list[dict]:
        return self.page.evaluate(OPEN_RECORDS, [self.server.files_url, self.alice.id])

    def documents(self) -> list[dict]:
        """The file documents of the conversation, as Bob's client opens them."""
        reader = Reader(self.bob, self.conversation, [self.alice, self.bob])
        return [doc for _, kind, doc in file_documents(reader) if doc.get("type") == "file"]

    def downloaded_sha256(self, name: str, nth: int = -1) -> str:
        with self.page.expect_download(timeout=60_000) as download:
            self.page.get_by_role("button", name=f"Download {name}").nth(nth).click()
        return hashlib.sha256(open(download.value.path(), "rb").read()).hexdigest()


def wait_until(page, condition, what: str, polls: int = 1200):
    """Polls ``condition`` (a server-side fact) every 50 ms; its last truthy value."""
    for _ in range(polls):
        value = condition()
        if value:
            return value
        page.wait_for_timeout(50)
    raise AssertionError(f"never happened: {what}")


def haystack(storage: dict) -> bytes:
    """Everything the page keeps, as bytes: binary values raw, the rest as JSON text."""
    out = [json.dumps(storage["localStorage"]).encode(), json.dumps(
        storage["sessionStorage"]).encode()]
    for row in storage["indexedDB"]:
        for value in row.values():
            out.append(bytes(value) if isinstance(value, list) else json.dumps(value).encode())
    return b"\n".join(out)


def secrets_of(record: dict, name: str) -> dict[str, bytes]:
    """What must never be in the browser's storage in the clear, in every form kept."""
    header = bytes.fromhex(record["header"])
    return {"file name": name.encode(), "one-time identity": record["identity"].encode(),
            "nonce": bytes.fromhex(record["nonce"]), "nonce (hex)": record["nonce"].encode(),
            "header": header[:64], "upload URL": record["uploadUrl"].encode(),
            "chunk 0 digest": bytes.fromhex(record["chunkHashes"][0]),
            "chunk 0 digest (hex)": record["chunkHashes"][0].encode()}


def found(secrets: dict[str, bytes], data: bytes) -> list[str]:
    return [what for what, needle in secrets.items() if needle in data]


def covered(record: dict, size: int) -> int:
    """The ciphertext end of the chunks ``record`` has recorded (of a ``size``-byte file)."""
    prefix = len(bytes.fromhex(record["header"])) + 16
    chunks = len(record["chunkHashes"])
    if chunks * CHUNK >= size:
        return prefix + size + 16 * -(-size // CHUNK)
    return prefix + chunks * SEALED_CHUNK


def test_the_resume_record_is_sealed_under_the_device_key_before_each_patch_leaves(
        server, fresh_database, new_page, tmp_path):
    """While a file of two PATCHes uploads, each PATCH is held at the network as it
    leaves: by then the store (opened afresh, with the session's device key) has the
    digests of every chunk the PATCH carries, and a dump of every IndexedDB database,
    localStorage and sessionStorage holds neither the file's name, the one-time
    identity, the nonce, the header, the upload URL nor a chunk digest, raw or hex.
    Positive control: the same search finds them once planted in localStorage and in an
    IndexedDB row. After the upload the record is gone."""
    chat = Chat(server, new_page)
    name = f"resume-secret-{os.urandom(4).hex()}.bin"
    size = PATCH + 3 * CHUNK + 1234
    (tmp_path / name).write_bytes(os.urandom(size))
    held = []

    def at_patch(route):
        offset = int(route.request.headers["upload-offset"])
        records = chat.records()
        assert len(records) == 1, records
        record = records[0]
        assert record["plaintextLength"] == size
        assert covered(record, size) >= min(offset + PATCH, record_length(record, size))
        storage = chat.page.evaluate(DUMP_STORAGE)
        assert found(secrets_of(record, name), haystack(storage)) == [], offset
        held.append((offset, record, storage))
        route.continue_()

    chat.page.route("**/api/v1/uploads/**", lambda route: at_patch(route)
                    if route.request.method == "PATCH" else route.continue_())
    chat.attach(tmp_path / name)
    expect(chat.page.locator(".v2-message.mine.sent .file-name")).to_have_text([name],
                                                                              timeout=60_000)
    assert [offset for offset, _, _ in held] == [0, PATCH]
    assert chat.records() == []
    assert name not in json.dumps(chat.page.evaluate(DUMP_STORAGE))

    # Positive control: planted in the clear, every secret is found by the same search.
    _, record, _ = held[-1]
    secrets = secrets_of(record, name)
    chat.page.evaluate("""(planted) => new Promise((ok, fail) => {
        localStorage.setItem("planted", planted.text);
        const r = indexedDB.open("planted");
        r.onupgradeneeded = () => r.result.createObjectStore("s", { autoIncrement: true });
        r.onsuccess = () => { const tx = r.result.transaction("s", "readwrite");
          tx.objectStore("s").add({ bytes: new Uint8Array(planted.bytes) });
          tx.oncomplete = ok; tx.onerror = fail; };
      })""", {"text": f"{name} {record['identity']} {record['nonce']} {record['uploadUrl']} "
                      f"{record['chunkHashes'][0]}",
              "bytes": list(secrets["nonce"] + secrets["header"] + secrets["chunk 0 digest"])})
    assert sorted(found(secrets, haystack(chat.page.evaluate(DUMP_STORAGE)))) == sorted(secrets)
    assert chat.page.errors == [], chat.page.errors


def record_length(record: dict, size: int) -> int:
    """The age file length of ``record``'s upload."""
    return len(bytes.fromhex(record["header"])) + 16 + size + 16 * max(1, -(-size // CHUNK))


BIG = 20 * 1024 * 1024


def interrupt(chat: Chat, path) -> tuple[CipherUpload, dict]:
    """Attaches ``path`` under a slow uplink and reloads the page strictly mid-transfer
    (the server holds the first PATCH, the second is on its way); returns the server's
    upload, settled (its PATCH ended, the lease released) and the stored resume record,
    as the reloaded page's store opens it. The conversation is open again."""
    known = {u.pk for u in chat.uploads()}
    chat.throttle(SLOW)
    with chat.page.expect_request(lambda r: r.method == "PATCH" and int(
            r.headers["upload-offset"]) > 0, timeout=60_000):  # the second PATCH leaves
        chat.attach(path)
    new = wait_until(chat.page, lambda: [u for u in chat.uploads()
                                         if u.pk not in known and u.offset > 0], "a first part")
    assert 0 < new[0].offset < new[0].length
    chat.page.reload()  # while the second PATCH is on its way
    chat.throttle(-1)
    upload = wait_until(chat.page, lambda: [u for u in chat.uploads() if u.pk == new[0].pk
                                            and u.lease_owner == ""], "the PATCH's end")[0]
    assert 0 < upload.offset < upload.length and upload.state == "uploading"
    chat.reopen()
    [record] = [r for r in chat.records() if upload_id(r["uploadUrl"]) == upload.pk]
    assert covered(record, path.stat().st_size) >= upload.offset
    return upload, record


def patches_to(chat: Chat) -> list[tuple[str, str, int]]:
    """(method, upload id, Upload-Offset) of every tus request from now on."""
    seen: list[tuple[str, str, int]] = []
    chat.page.on("request", lambda r: "/api/v1/uploads/" in r.url and r.method != "GET"
                 and seen.append((r.method, r.url.rstrip("/").rsplit("/", 1)[-1],
                                  int(r.headers.get("upload-offset", -1)))))
    return seen


def sent_file(chat: Chat, name: str, count: int) -> dict:
    """Waits for the ``count``-th sent file message; its document as Bob opens it."""
    expect(chat.page.locator(".v2-message.mine.sent .file-name")).to_have_count(
        count, timeout=120_000)
    documents = chat.documents()
    assert len(documents) == count and documents[-1]["name"] == name
    return documents[-1]


def changed(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


@pytest.mark.slow
def test_a_20_mib_upload_reloaded_mid_transfer_resumes_only_with_the_same_bytes(
        server, fresh_database, new_page, tmp_path):
    """Must-show 2. A 20 MiB upload reloaded strictly mid-transfer continues, once the
    same file is attached again, under the same upload and identity from the server's
    offset: no new upload is created and the PATCHes after the reload start at that
    offset and follow each other (the server receives the remainder, nothing twice); Bob
    downloads the original's SHA-256. Interrupted again, a different file of the same
    name and size (one byte changed in a chunk recorded and partly sent) is a new upload under a
    new identity and nonce, the old one terminated. And when the server under-reports
    Upload-Offset (its HEAD rewritten) while the file attached again differs after that
    offset, the client does not trust the offset: it starts over as well."""
    chat = Chat(server, new_page)
    name = "holiday-video.bin"
    path = tmp_path / name
    original = os.urandom(BIG)
    path.write_bytes(original)

    upload, record = interrupt(chat, path)
    requests = patches_to(chat)
    chat.attach(path)  # the user selects the same file again
    doc = sent_file(chat, name, 1)
    assert (doc["upload_id"], doc["identity"]) == (upload.pk, record["identity"])
    offsets = [offset for method, _, offset in requests if method == "PATCH"]
    received = sum(min(PATCH, upload.length - offset) for offset in offsets)
    assert received <= upload.length - upload.offset + PATCH
    assert [method for method, _, _ in requests if method in ("POST", "DELETE")] == []
    assert offsets == list(range(upload.offset, upload.length, PATCH)), (offsets, upload.offset)
    assert chat.downloaded_sha256(name) == hashlib.sha256(original).hexdigest()

    # A different file of the same name and size: one byte changed in a recorded chunk.
    upload, record = interrupt(chat, path)
    beyond = upload.offset // SEALED_CHUNK + 1  # recorded, sent in part, not kept
    assert beyond < len(record["chunkHashes"])
    flipped = beyond * CHUNK + 7
    path.write_bytes(changed(original, flipped))
    chat.attach(path)
    doc = sent_file(chat, name, 2)
    assert doc["upload_id"] != upload.pk and doc["identity"] != record["identity"]
    assert not CipherUpload.objects.filter(pk=upload.pk).exists()
    assert not (server.media_root / upload.blob_name).exists()
    stored = (server.media_root / CipherUpload.objects.get(pk=doc["upload_id"]).blob_name)
    header = bytes.fromhex(record["header"])
    assert stored.read_bytes()[len(header):len(header) + 16] != bytes.fromhex(record["nonce"])
    assert chat.downloaded_sha256(name) == hashlib.sha256(changed(original, flipped)).hexdigest()

    # The server under-reports its offset; the file attached again differs after it.
    path.write_bytes(original)
    upload, record = interrupt(chat, path)
    reported = len(bytes.fromhex(record["header"])) + 16 + SEALED_CHUNK  # one chunk
    held = upload.offset // SEALED_CHUNK - 2  # a chunk the server holds, past `reported`
    assert held > 1
    flipped = held * CHUNK + 3

    def under_report(route):
        if route.request.method != "HEAD":
            return route.continue_()
        response = route.fetch()
        return route.fulfill(response=response, headers={**response.headers,
                                                         "upload-offset": str(reported)})

    chat.page.route(f"**/api/v1/uploads/{upload.pk}*", under_report)
    path.write_bytes(changed(original, flipped))
    chat.attach(path)
    doc = sent_file(chat, name, 3)
    assert doc["upload_id"] != upload.pk and doc["identity"] != record["identity"]
    assert not CipherUpload.objects.filter(pk=upload.pk).exists()
    assert chat.downloaded_sha256(name) == hashlib.sha256(changed(original, flipped)).hexdigest()
    assert chat.records() == []


PASTE = """([name, text]) => {
  const data = new DataTransfer();
  if (name) data.items.add(new File([text], name, { type: "text/plain" }));
  else data.setData("text/plain", text);
  const event = new ClipboardEvent("paste", { clipboardData: data, bubbles: true,
                                              cancelable: true });
  document.getElementById("v2-text").dispatchEvent(event);
  return event.defaultPrevented;
}"""


def uploading_rows(chat: Chat) -> list[CipherUpload]:
    return [u for u in chat.uploads() if u.state == "uploading"]


def start_slow_upload(chat: Chat, path) -> CipherUpload:
    """Attaches ``path`` under a slow uplink; the new upload once the server has it."""
    known = {u.pk for u in chat.uploads()}
    chat.throttle(SLOW)
    chat.attach(path)
    expect(chat.page.locator(".v2-message.mine.uploading")).to_have_count(1)
    return wait_until(chat.page, lambda: [u for u in uploading_rows(chat) if u.pk not in known],
                      "the upload on the server")[0]


def test_paste_the_leave_warning_cancel_and_logout_with_an_upload_in_progress(
        server, fresh_database, new_page, tmp_path):
    """A file pasted into the message box is sent as a file message (a text paste is
    left to the browser). While an upload runs its entry shows the speed and the time
    left, and closing the tab asks first (dismissed: the tab stays, the upload goes on);
    Cancel terminates it on the server and deletes its resume record. A logout during an
    upload asks first: dismissed, nothing changes; confirmed, the partial upload and one
    interrupted earlier by a reload are deleted on the server (no row, no bytes) and in
    the browser (no record), then the session ends. With no upload running, closing the
    tab asks nothing."""
    chat = Chat(server, new_page)
    page = chat.page
    assert page.evaluate(PASTE, ["pasted-note.txt", "a note from the clipboard"]) is True
    doc = sent_file(chat, "pasted-note.txt", 1)
    assert doc["size"] == len("a note from the clipboard")
    assert page.evaluate(PASTE, [None, "just text"]) is False  # control: not a file
    assert chat.dialogs == []

    big = tmp_path / "big-upload.bin"
    big.write_bytes(os.urandom(BIG))
    upload = start_slow_upload(chat, big)
    expect(page.locator(".v2-message.mine.uploading .upload-rate")).to_have_text(
        re.compile(r"\d+(\.\d)? [kMG]?B/s, \d+ (s|min) left"))
    chat.answer = False
    page.close(run_before_unload=True)
    wait_until(page, lambda: chat.dialogs == ["beforeunload"], "the leave warning")
    assert not page.is_closed()

    page.get_by_role("button", name="Cancel the upload of big-upload.bin").click()
    expect(page.locator(".v2-message.mine.failed .file-name")).to_have_text(
        ["big-upload.bin"], timeout=30_000)  # once the DELETE is answered
    wait_until(page, lambda: not CipherUpload.objects.filter(pk=upload.pk).exists(),
               "the cancelled upload deleted")
    assert not (server.media_root / upload.blob_name).exists()
    assert chat.records() == []

    # An upload interrupted by a reload (its record kept), then another one running: a
    # logout asks, dismissed nothing changes; confirmed, both are deleted.
    chat.answer = True
    interrupted, _ = interrupt(chat, big)
    other = tmp_path / "other-upload.bin"
    other.write_bytes(os.urandom(BIG))
    upload = start_slow_upload(chat, other)
    assert chat.dialogs == ["beforeunload", "beforeunload"]
    chat.answer = False
    logout = page.get_by_role("navigation", name="Account").get_by_role("button",
                                                                        name="Log out")
    logout.click()
    wait_until(page, lambda: chat.dialogs[-1:] == ["confirm"], "the logout question")
    expect(page.locator(".v2-message.mine.uploading")).to_have_count(1)
    wait_until(page, lambda: len(chat.records()) == 2, "the running upload's record")
    assert {u.pk for u in uploading_rows(chat)} == {interrupted.pk, upload.pk}
    chat.answer = True
    logout.click()
    expect(page.locator("#v2-login-form")).to_be_visible()
    assert chat.dialogs == ["beforeunload", "beforeunload", "confirm", "confirm"]
    assert uploading_rows(chat) == []
    for gone in (interrupted, upload):
        assert not (server.media_root / gone.blob_name).exists()
    assert [row for row in page.evaluate(DUMP_STORAGE)["indexedDB"]] == []
    chat.throttle(-1)
    with page.expect_event("close"):
        page.close(run_before_unload=True)  # nothing runs: no question
    assert chat.dialogs[-1] == "confirm"


# Four records in the page's store: "a" gets a flipped byte, "b" a part of "c" moved in,
# "d" loses its first part; "c" is left alone. Returns what a fresh store opens.
TAMPER_RECORDS = """async ([url, userId]) => {
  const f = await import(url);
  const store = await f.ResumeStore.open(userId);
  const ids = {};
  for (const tag of ["a", "b", "c", "d"]) {
    const record = { uploadUrl: `/api/v1/uploads/${tag}`, identity: `identity-${tag}`,
      header: "00", nonce: "11".repeat(16), plaintextLength: 200000, chunkHashes: [] };
    for (const hash of ["01", "02"]) {
      record.chunkHashes.push((tag.charCodeAt(0).toString(16) + hash).repeat(16));
      await store.save(record, `fingerprint-${tag}`);
    }
    ids[tag] = record.localId;
  }
  const before = await (await f.ResumeStore.open(userId)).all();
  const db = await new Promise((ok, fail) => {
    const r = indexedDB.open("securechat-v2-uploads"); r.onsuccess = () => ok(r.result);
    r.onerror = fail; });
  const parts = db.transaction("parts", "readwrite").objectStore("parts");
  const get = (key) => new Promise((ok) => {
    parts.get(key).onsuccess = (e) => ok(e.target.result); });
  const a = await get([ids.a, 1]);
  a.sealed[5] ^= 1;
  parts.put(a);
  parts.put({ ...(await get([ids.c, 0])), id: ids.b });
  parts.delete([ids.d, 0]);
  await new Promise((ok) => { parts.transaction.oncomplete = ok; });
  db.close();
  const opened = await (await f.ResumeStore.open(userId)).all();
  const again = await (await f.ResumeStore.open(userId)).all();
  const found = await (await f.ResumeStore.open(userId)).find({ size: 200000 }, "fingerprint-c");
  const tags = (records) => records.map((r) => r.identity.slice(-1)).sort();
  return { before: tags(before), opened: tags(opened), again: tags(again),
           control: opened.find((r) => r.identity === "identity-c"), found: found?.identity };
}"""


def test_a_damaged_moved_or_incomplete_resume_record_is_dropped_and_never_trusted(
        server, fresh_database, new_page):
    """Bad storage changes nothing it should not: of four stored records, one with a
    flipped byte, one holding a part sealed for another record and one missing its
    first part do not open; they are logged and deleted (a second store sees the same),
    so their uploads would start over. The untouched record (the control) opens with
    its digests in order, and a file of its size and fingerprint finds it."""
    chat = Chat(server, new_page)
    result = chat.page.evaluate(TAMPER_RECORDS, [server.files_url, chat.alice.id])
    assert result["before"] == ["a", "b", "c", "d"]
    assert result["opened"] == result["again"] == ["c"]
    assert result["control"]["chunkHashes"] == ["6301" * 16, "6302" * 16]
    assert result["control"]["uploadUrl"] == "/api/v1/uploads/c"
    assert result["found"] == "identity-c"
    assert len([e for e in chat.page.errors if "does not open" in e]) == 3


INTERRUPTED = "Upload of {} was interrupted — choose the same file to continue"


@pytest.mark.slow
def test_after_a_reload_mid_upload_the_chat_offers_to_continue_or_discard_it(
        server, fresh_database, new_page, tmp_path):
    """The resume notice. After a reload strictly mid-transfer the chat names the
    interrupted upload (the name comes from the resume record, sealed under the device
    key) and says how to continue. Dismiss hides the notice and keeps the record (a reload
    shows it again); Discard deletes the partial upload on the server and the record, and
    no reload brings it back. Attaching the same file again continues the upload and the
    notice goes."""
    chat = Chat(server, new_page)
    name = "tax-return-2026.bin"
    path = tmp_path / name
    path.write_bytes(os.urandom(BIG))
    notice = chat.page.locator(".v2-upload-interrupted")
    text = INTERRUPTED.format(name)
    expect(notice).to_have_count(0)  # nothing interrupted yet

    upload, _ = interrupt(chat, path)
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text(text)
    chat.page.get_by_role("button", name=f"Dismiss: {text}").click()
    expect(notice).to_have_count(0)
    assert len(chat.records()) == 1  # dismissed, not discarded
    chat.page.reload()
    chat.reopen()
    expect(notice).to_contain_text(text)

    chat.page.get_by_role("button", name=f"Discard the interrupted upload of {name}").click()
    expect(notice).to_have_count(0)
    wait_until(chat.page, lambda: not [u for u in chat.uploads() if u.pk == upload.pk],
               "the partial upload deleted on the server")
    assert chat.records() == []
    chat.page.reload()
    chat.reopen()
    expect(notice).to_have_count(0)

    upload, record = interrupt(chat, path)
    expect(notice).to_contain_text(text)
    chat.attach(path)  # the user chooses the same file again: it continues
    expect(notice).to_have_count(0)
    doc = sent_file(chat, name, 1)
    assert (doc["upload_id"], doc["identity"]) == (upload.pk, record["identity"])
