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
from tests.support.bundle import BUNDLE_DIR

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
  const tusKeys = Object.keys(localStorage).filter((k) => k.startsWith("tus"));
  return {...result, progress, records, tusKeys};
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
def x25519_server(start_server, settings):
    """An X25519 deployment; users signed up here get keys of that type (the page takes
    the key type of the user's own keys, GET /api/v1/me)."""
    settings.SECURECHAT_KEY_TYPE = "x25519"
    return start_server("uvicorn", SECURECHAT_KEY_TYPE="x25519")


def test_browser_upload_is_an_age_file_the_standard_tool_opens(x25519_server, new_page,
                                                               tmp_path):
    """X25519 deployment: a 3 MiB file encrypted in the Worker while tus-js-client sends it
    in 1 MiB PATCHes completes; the stored blob is exactly the announced length, decrypts
    with ``age -d -i`` and the one-time identity to the page's bytes, and its file_hash is
    client.filehash's. No request carries Upload-Metadata, nothing tus is left in
    localStorage, and no 32-byte slice of the plaintext is on the server's disk (the same
    probe finds one planted in a copy of the blob). The page downloads it back intact."""
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
    assert result["tusKeys"] == []
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
