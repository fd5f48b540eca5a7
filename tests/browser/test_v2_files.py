"""Version 2 files in Chromium (issue 14): encrypted in a Web Worker while tus-js-client
uploads, decrypted while downloading (static/js/v2/files/).

A v2 user (signed up with the real client library, tests/filestore/v2_support.py) gets a
page of the live server with its session; the page imports the served bundle and calls
the module API the chat uses: ``uploadFile`` and ``downloadFile``. The plaintext is made
in the page from a rule Python can repeat (SHA-256 blocks), so it is never sent from
here. What the server holds is then checked with the standard tools: ``age -d -i`` with
the one-time identity and ``client.filehash``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from client import filehash
from filestore.models import CipherUpload
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.filestore.v2_support import age_file, tus_upload, upload_id, v2_member
from tests.securechat.test_never_sees import recording  # noqa: F401 - the §9 fixture
from tests.support.bundle import BUNDLE_DIR
from tests.support.probes import Probe, record_haystacks

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("fresh_rate_limits")]

SIZE = 3 * 1024 * 1024 + 12_345  # several PATCHes of 1 MiB, a partial last chunk
PATCH = 1024 * 1024
MARKER = b"securechat v2-web-files plaintext"
BLOCK = 32


def block(j: int) -> bytes:
    return hashlib.sha256(MARKER + j.to_bytes(4, "big")).digest()


def plaintext(size: int) -> bytes:
    """The page's file: 32-byte blocks SHA-256(MARKER || u32be(j)), cut to ``size``."""
    return b"".join(block(j) for j in range(-(-size // BLOCK)))[:size]


# Builds window.testFile in the page by the same rule as plaintext() (WebCrypto SHA-256).
MAKE_FILE = """async ([marker, size]) => {
  const prefix = new TextEncoder().encode(marker);
  const blocks = Math.ceil(size / 32);
  const out = new Uint8Array(blocks * 32);
  const batch = 4096;
  for (let first = 0; first < blocks; first += batch) {
    const digests = [];
    for (let j = first; j < Math.min(first + batch, blocks); j++) {
      const input = new Uint8Array(prefix.length + 4);
      input.set(prefix);
      new DataView(input.buffer).setUint32(prefix.length, j);
      digests.push(crypto.subtle.digest("SHA-256", input));
    }
    (await Promise.all(digests)).forEach((d, k) => out.set(new Uint8Array(d), (first + k) * 32));
  }
  window.testFile = new File([out.subarray(0, size)], "holiday-secret.bin",
                             {type: "application/octet-stream"});
}"""

UPLOAD = """async ([filesUrl, workerUrl, workerIntegrity, chunkSize]) => {
  const f = await import(filesUrl);
  f.setEncryptWorkerScript(workerUrl, workerIntegrity);
  const progress = [];
  const records = [];
  const result = await f.uploadFile(window.testFile, {
    chunkSize,
    onProgress: (sent, total) => progress.push([sent, total]),
    onResumeRecord: (record) => { records.push(record.chunkHashes.length); },
  });
  const stored = JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage});
  return {...result, progress, records, stored};
}"""

CANCEL = """async ([filesUrl, workerUrl, workerIntegrity, chunkSize]) => {
  const f = await import(filesUrl);
  f.setEncryptWorkerScript(workerUrl, workerIntegrity);
  const controller = new AbortController();
  let abortedAt = null;
  try {
    await f.uploadFile(window.testFile, {chunkSize, signal: controller.signal,
      onProgress: (sent, total) => {
        if (abortedAt === null && sent >= chunkSize && sent < total) {
          abortedAt = sent;
          controller.abort();
        }
      }});
    return {completed: true, abortedAt};
  } catch (error) {
    return {error: error.code, abortedAt};
  }
}"""

DOWNLOAD = """async ([filesUrl, ref]) => {
  const f = await import(filesUrl);
  const seen = [];
  try {
    const blob = await f.downloadFile(ref, {onProgress: (got, total) => seen.push([got, total])});
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
    return {size: blob.size, type: blob.type, progress: seen.length,
            sha256: Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")};
  } catch (error) {
    return {error: error.code ?? String(error), name: error.name, progress: seen.length};
  }
}"""


def bundle_entry(name: str) -> dict:
    return json.loads((BUNDLE_DIR / "manifest.json").read_text())["entries"][name]


def v2_page(server, new_page, member):
    """A page of the live server (with its CSP) holding ``member``'s v2 session."""
    page = new_page(server)
    cookies = dict(part.split("=", 1) for part in member.cookie.split("; "))
    page.context.add_cookies([{"name": k, "value": v, "url": server.url}
                              for k, v in cookies.items()])
    page.goto("/about/")
    return page


def blob_bytes(server, upload: str) -> bytes:
    row = CipherUpload.objects.get(pk=upload)
    assert row.state == "complete"
    return (server.media_root / row.blob_name).read_bytes()


def plaintext_windows_in(data: bytes, blocks: set[bytes]) -> int:
    """How many 32-byte windows of ``data`` (at every offset) are plaintext blocks: any
    run of 63 or more plaintext bytes stored as they are contains one."""
    return sum(data[i:i + BLOCK] in blocks for i in range(len(data) - BLOCK + 1))


def upload_in_browser(server, page, requests) -> dict:
    files, worker = bundle_entry("v2/files/index"), bundle_entry("v2/files/encrypt-worker")
    page.evaluate(MAKE_FILE, [MARKER.decode(), SIZE])
    page.on("request", lambda r: "/api/v1/uploads/" in r.url and requests.append(
        (r.method, r.headers)))
    return page.evaluate(UPLOAD, [f"/static/dist/{files['file']}",
                                  f"/static/dist/{worker['file']}", worker["integrity"], PATCH])


@pytest.fixture
def x25519_server(start_shared_server, settings):
    """An X25519 deployment (one process for the module's tests); users signed up here
    get keys of that type (the page takes the key type of the user's own keys, GET
    /api/v1/me)."""
    settings.SECURECHAT_KEY_TYPE = "x25519"
    return start_shared_server("uvicorn", SECURECHAT_KEY_TYPE="x25519")


def test_browser_upload_is_an_age_file_the_standard_tool_opens(x25519_server, new_page,
                                                               tmp_path):
    """X25519 deployment: a 3 MiB file encrypted in the Worker while tus-js-client sends it
    in 1 MiB PATCHes completes; the stored blob is exactly the announced length, decrypts
    with ``age -d -i`` and the one-time identity to the page's bytes, and its file_hash is
    client.filehash's. No request carries Upload-Metadata, the browser's storage holds
    neither the name nor a tus record, and no 32-byte slice of the plaintext is on the
    server's disk (the same probe finds one planted in a copy of the blob). The page
    downloads it back intact, and a cancelled upload is terminated."""
    server = x25519_server
    alice = v2_member(server)
    page = v2_page(server, new_page, alice)
    requests = []
    result = upload_in_browser(server, page, requests)

    stored = blob_bytes(server, result["uploadId"])
    assert len(stored) == result["length"] > SIZE
    expected = plaintext(SIZE)
    (tmp_path / "file.age").write_bytes(stored)
    (tmp_path / "key.txt").write_text(result["identity"] + "\n")
    done = subprocess.run(["age", "-d", "-i", str(tmp_path / "key.txt"),
                           str(tmp_path / "file.age")], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected
    assert filehash.file_hash(stored).hex() == result["fileHash"]
    assert (result["name"], result["type"]) == ("holiday-secret.bin", "application/octet-stream")

    # What went to the server: ciphertext in PATCHes, no name, no metadata, no stored key.
    assert [m for m, _ in requests].count("PATCH") == -(-result["length"] // PATCH)
    assert not any(h.get("upload-metadata") for _, h in requests)
    assert "holiday" not in result["stored"] and "tus" not in result["stored"]
    assert result["records"] and result["records"][-1] == -(-SIZE // 65536)
    assert result["progress"][-1] == [result["length"], result["length"]]
    blocks = {expected[i:i + BLOCK] for i in range(0, SIZE - BLOCK + 1, BLOCK)}
    assert plaintext_windows_in(stored, blocks) == 0
    planted = stored[:1001] + expected[5000:5063] + stored[1001:65536]
    assert plaintext_windows_in(planted, blocks) == 1  # positive control: 63 bytes found

    back = page.evaluate(DOWNLOAD, [f"/static/dist/{bundle_entry('v2/files/index')['file']}", {
        "uploadId": result["uploadId"], "identity": result["identity"],
        "fileHash": result["fileHash"], "length": result["length"]}])
    assert back["sha256"] == hashlib.sha256(expected).hexdigest(), back
    assert back["size"] == SIZE and back["type"] == "application/octet-stream"
    assert page.errors == []

    # Cancelling mid-transfer rejects and terminates the partial upload on the server.
    files, worker = bundle_entry("v2/files/index"), bundle_entry("v2/files/encrypt-worker")
    cancelled = page.evaluate(CANCEL, [f"/static/dist/{files['file']}",
                                       f"/static/dist/{worker['file']}", worker["integrity"],
                                       PATCH])
    assert cancelled["error"] == "cancelled" and cancelled["abortedAt"] >= PATCH, cancelled
    for _ in range(50):
        left = list(CipherUpload.objects.exclude(pk=result["uploadId"]).values_list("state"))
        if not left:
            break
        page.wait_for_timeout(100)
    assert left == []
    assert CipherUpload.objects.filter(pk=result["uploadId"]).exists()  # control


def test_browser_downloads_agecrypt_files_and_refuses_a_forgery(x25519_server, new_page):
    """A file made by agecrypt (as the CLI makes them) and uploaded with tuspy downloads
    and decrypts in the page to the same bytes; after one byte of the stored blob is
    flipped, the same download fails as a forgery (file_hash_mismatch) and gives no Blob;
    a file hash other than the file's is a forgery as well."""
    server = x25519_server
    alice = v2_member(server)
    page = v2_page(server, new_page, alice)
    files = f"/static/dist/{bundle_entry('v2/files/index')['file']}"
    data = bytes(range(256)) * 900 + b"tail"  # 4 chunks, the last one partial
    sealed, identity = age_file(data, "x25519")
    upload = upload_id(tus_upload(alice, server, sealed))
    ref = {"uploadId": upload, "identity": str(identity),
           "fileHash": filehash.file_hash(sealed).hex(), "length": len(sealed)}

    good = page.evaluate(DOWNLOAD, [files, ref])
    assert good["sha256"] == hashlib.sha256(data).hexdigest() and good["size"] == len(data)

    wrong_hash = page.evaluate(DOWNLOAD, [files, {**ref, "fileHash": "00" * 32}])
    assert (wrong_hash["name"], wrong_hash["error"]) == ("FileHashError", "file_hash_mismatch")

    path = server.media_root / CipherUpload.objects.get(pk=upload).blob_name
    tampered = bytearray(sealed)
    tampered[len(sealed) - 70_000] ^= 0x01  # inside chunk 2 of 4
    path.write_bytes(bytes(tampered))
    forged = page.evaluate(DOWNLOAD, [files, ref])
    assert (forged["name"], forged["error"]) == ("FileHashError", "file_hash_mismatch"), forged
    assert "sha256" not in forged and forged["progress"] >= 1
    page.errors.clear()  # the failed download is logged nowhere else; nothing else failed


# Starts an upload that saves its resume record through window.saveRecord (a binding to
# the test, awaited before each PATCH leaves, as the device-key store would be) and
# leaves its outcome in window.uploadResult / window.uploadError.
START_RESUMABLE = """async ([filesUrl, workerUrl, workerIntegrity, chunkSize, resumeFrom]) => {
  const f = await import(filesUrl);
  f.setEncryptWorkerScript(workerUrl, workerIntegrity);
  window.uploadDone = f.uploadFile(window.testFile, {chunkSize, resumeFrom,
      onResumeRecord: (record) => window.saveRecord(record)})
    .then((result) => { window.uploadResult = result; },
          (error) => { window.uploadError = String(error); });
}"""

RESUME_SIZE = 2 * 1024 * 1024 + 999
RESUME_PATCH = 256 * 1024
THROTTLED = 512 * 1024  # bytes per second while the upload is to be interrupted


def start_resumable(page, resume_from=None) -> None:
    files, worker = bundle_entry("v2/files/index"), bundle_entry("v2/files/encrypt-worker")
    page.evaluate(START_RESUMABLE, [f"/static/dist/{files['file']}",
                                    f"/static/dist/{worker['file']}", worker["integrity"],
                                    RESUME_PATCH, resume_from])


def server_offset(page, url: str) -> int:
    response = page.request.head(url, headers={"Tus-Resumable": "1.0.0"})
    assert response.status == 200, response.status
    return int(response.headers["upload-offset"])


def interrupted_upload(page, saved: dict) -> tuple[dict, int]:
    """Uploads window.testFile at a throttled rate and reloads the page strictly
    mid-transfer; returns (the last saved resume record, the server's settled offset)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
             "downloadThroughput": -1, "uploadThroughput": THROTTLED})
    start_resumable(page)
    offset = 0
    for _ in range(300):
        record = saved.get("record")
        if record and record.get("uploadUrl"):
            offset = server_offset(page, record["uploadUrl"])
            if offset >= 2 * RESUME_PATCH:
                break
        page.wait_for_timeout(50)
    page.reload()
    record = saved["record"]
    settled = server_offset(page, record["uploadUrl"])
    for _ in range(40):  # bytes in flight at the reload may still be committed
        page.wait_for_timeout(250)
        now = server_offset(page, record["uploadUrl"])
        if now == settled:
            break
        settled = now
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
             "downloadThroughput": -1, "uploadThroughput": -1})
    return saved["record"], settled


def finish(page) -> dict:
    page.wait_for_function("() => window.uploadResult || window.uploadError", timeout=60_000)
    error = page.evaluate("() => window.uploadError || null")
    assert error is None, error
    return page.evaluate("() => window.uploadResult")


def decrypt_with_age(tmp_path, stored: bytes, identity: str) -> bytes:
    (tmp_path / "resumed.age").write_bytes(stored)
    (tmp_path / "resumed.key").write_text(identity + "\n")
    done = subprocess.run(["age", "-d", "-i", str(tmp_path / "resumed.key"),
                           str(tmp_path / "resumed.age")], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_upload_resumes_after_a_reload_only_with_the_same_bytes(x25519_server, new_page,
                                                                 tmp_path):
    """An upload reloaded strictly mid-transfer continues, after the same file is selected
    again, from the server's offset under the same identity (the first PATCH after the
    reload starts at that offset) and decrypts to the file. The same interruption
    followed by a file of the same name and size whose last recorded chunk differs starts
    over: a new upload under a new identity, the old one terminated, never a chunk index
    under two plaintexts."""
    server = x25519_server
    page = v2_page(server, new_page, v2_member(server))
    saved: dict = {}
    page.context.expose_function("saveRecord", lambda record: saved.update(record=record))
    patches: list[int] = []
    page.on("request", lambda r: r.method == "PATCH" and patches.append(
        int(r.headers["upload-offset"])))
    make = [MARKER.decode(), RESUME_SIZE]

    page.evaluate(MAKE_FILE, make)
    record, settled = interrupted_upload(page, saved)
    total = CipherUpload.objects.get(pk=upload_id(record["uploadUrl"])).length
    assert 0 < settled < total
    page.evaluate(MAKE_FILE, make)  # the user selects the same file again
    del patches[:]
    start_resumable(page, record)
    result = finish(page)
    assert result["resumed"] is True and result["identity"] == record["identity"]
    assert result["uploadId"] == upload_id(record["uploadUrl"])
    assert patches[0] == settled and len(patches) == -(-(total - settled) // RESUME_PATCH)
    stored = blob_bytes(server, result["uploadId"])
    assert decrypt_with_age(tmp_path, stored, result["identity"]) == plaintext(RESUME_SIZE)
    assert filehash.file_hash(stored).hex() == result["fileHash"]

    # Interrupted again, then a different file of the same name and size.
    page.evaluate("() => { window.uploadResult = window.uploadError = undefined; }")
    saved.clear()
    page.evaluate(MAKE_FILE, make)
    record, settled = interrupted_upload(page, saved)
    changed_chunk = len(record["chunkHashes"]) - 1
    page.evaluate(MAKE_FILE, make)
    page.evaluate("""async (at) => {
        const byte = new Uint8Array(await window.testFile.slice(at, at + 1).arrayBuffer());
        window.testFile = new File([window.testFile.slice(0, at), byte.map((b) => b ^ 0xff),
            window.testFile.slice(at + 1)], "holiday-secret.bin",
            {type: "application/octet-stream"}); }""", changed_chunk * 65536 + 7)
    start_resumable(page, record)
    result = finish(page)
    assert result["resumed"] is False and result["identity"] != record["identity"]
    assert result["uploadId"] != upload_id(record["uploadUrl"])
    assert not CipherUpload.objects.filter(pk=upload_id(record["uploadUrl"])).exists()
    expected = bytearray(plaintext(RESUME_SIZE))
    expected[changed_chunk * 65536 + 7] ^= 0xFF
    stored = blob_bytes(server, result["uploadId"])
    assert decrypt_with_age(tmp_path, stored, result["identity"]) == bytes(expected)


def test_hybrid_browser_upload_leaves_nothing_readable_where_the_server_reaches(
        recording, new_page):  # noqa: F811 - the fixture imported above
    """Hybrid deployment (the default), served through the DESIGN.md §9 recorder at DEBUG
    with its own Redis under MONITOR: the browser uploads a file in several PATCHes and
    downloads it back. The one-time identity is AGE-SECRET-KEY-PQ-1…, the server accepted
    its one mlkem768x25519 stanza, agecrypt opens the stored file, and the probes find
    neither the file's name, its one-time identity nor any of three 32-byte slices of its
    plaintext in the recorded requests and responses, the database, Redis, MEDIA_ROOT,
    the log or the server's open files. Control: the same probe finds a 32-byte slice of
    the ciphertext in the recorded PATCH bodies (the recorder saw the browser's bytes)."""
    import agecrypt

    server = recording.server
    page = v2_page(server, new_page, v2_member(server))
    files, worker = bundle_entry("v2/files/index"), bundle_entry("v2/files/encrypt-worker")
    size = 300_000
    page.evaluate(MAKE_FILE, [MARKER.decode(), size])
    result = page.evaluate(UPLOAD, [f"/static/dist/{files['file']}",
                                    f"/static/dist/{worker['file']}", worker["integrity"],
                                    100_000])
    assert result["identity"].startswith("AGE-SECRET-KEY-PQ-1")
    stored = blob_bytes(server, result["uploadId"])
    expected = plaintext(size)
    assert agecrypt.decrypt(stored, [agecrypt.parse_identity(result["identity"])]) == expected
    assert filehash.file_hash(stored).hex() == result["fileHash"]
    back = page.evaluate(DOWNLOAD, [f"/static/dist/{files['file']}", {
        "uploadId": result["uploadId"], "identity": result["identity"],
        "fileHash": result["fileHash"], "length": result["length"]}])
    assert back["sha256"] == hashlib.sha256(expected).hexdigest(), back

    secrets = {"file name": "holiday-secret.bin", "one-time identity": result["identity"],
               **{f"plaintext slice at {at}": expected[at:at + 32]
                  for at in (0, size // 2 + 5, size - 32)}}
    findings = recording.findings(secrets)
    assert findings == [], "\n".join(map(str, findings))
    control = {"ciphertext slice": stored[len(stored) // 2:len(stored) // 2 + 32]}
    assert any(f.place.startswith("recorder:") and "PATCH" in f.place
               for f in Probe(control).search(record_haystacks(server.record_path)))


NO_WASM_UPLOAD = """async ([filesUrl, workerUrl, workerIntegrity, chunkSize]) => {
  const f = await import(filesUrl);
  f.setEncryptWorkerScript(workerUrl, workerIntegrity);
  try {
    await f.uploadFile(window.testFile, {chunkSize});
    return {completed: true};
  } catch (error) {
    return {error: error.code ?? String(error), name: error.name};
  }
}"""


def test_without_webassembly_an_upload_fails_closed_and_sends_no_byte(start_server, new_page):
    """The file AEAD is WebAssembly only: under a policy without 'wasm-unsafe-eval' the
    upload is refused with wasm_unavailable before any PATCH, never run in pure JS.
    Positive control: the same page under the served policy uploads."""
    server = start_server("uvicorn")
    alice = v2_member(server)
    page = v2_page(server, new_page, alice)

    def without_wasm(route):
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": response.headers[
            "content-security-policy"].replace(" 'wasm-unsafe-eval'", "")}
        route.fulfill(response=response, headers=headers)

    page.route("**/about/", without_wasm)
    page.goto("/about/")
    assert "wasm-unsafe-eval" not in page.evaluate(
        "() => fetch('/about/').then((r) => r.headers.get('content-security-policy'))")
    page.evaluate(MAKE_FILE, [MARKER.decode(), 200_000])
    patches = []
    page.on("request", lambda r: r.method == "PATCH" and patches.append(r.url))
    files, worker = bundle_entry("v2/files/index"), bundle_entry("v2/files/encrypt-worker")
    args = [f"/static/dist/{files['file']}", f"/static/dist/{worker['file']}",
            worker["integrity"], PATCH]
    refused = page.evaluate(NO_WASM_UPLOAD, args)
    assert refused.get("error") == "wasm_unavailable", refused
    assert patches == []
    page.unroute("**/about/")
    page.goto("/about/")
    page.evaluate(MAKE_FILE, [MARKER.decode(), 200_000])
    assert page.evaluate(NO_WASM_UPLOAD, args) == {"completed": True}
