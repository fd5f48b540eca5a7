"""Downloads through the download Service Worker (DESIGN.md §6 "Download", issue 14).

Alice's chat page runs with the shell's file config, so "Download" registers the worker
from /dl/sw-<hash>.js (scope /dl/), posts the file's key and upload id to it over a
MessageChannel and saves /dl/<one-time token>: the worker fetches the age file, decrypts
it as the browser writes it to disk and errors the stream on a file_hash mismatch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

import httpx
import pytest
from playwright.sync_api import expect

from filestore.models import CipherUpload
from securechat.serviceworker import file_config, script_path
from tests.browser.file_pages import open_file_chat, send_age_file
from tests.browser.test_v2_chat import Reader, signup, start_conversation
from tests.browser.test_v2_file_messages import FORGERY, server  # noqa: F401 - the fixture
from tests.support.bundle import BUNDLE_DIR

pytestmark = [pytest.mark.browser]

NAME = "Q3 report (final) – été's.bin"
EXPECTED_HEADERS = {
    "content-disposition": "attachment; filename*=UTF-8''"
                           "Q3%20report%20%28final%29%20%E2%80%93%20%C3%A9t%C3%A9%27s.bin",
    "content-type": "application/octet-stream",
    "x-content-type-options": "nosniff",
    "content-security-policy": "sandbox; default-src 'none'",
}


def dl_responses(page) -> list:
    """Every response the page sees for a /dl/ URL, as they arrive."""
    seen = []
    page.on("response", lambda r: "/dl/" in r.url and not r.url.endswith(".js")
            and seen.append(r))
    return seen


def test_a_download_saved_through_the_service_worker_is_the_file_with_exactly_four_headers(
        server, transactional_db, new_page):  # noqa: F811
    """Bob (Python) sends a file; Alice's Download saves it through the worker: the saved
    file has the original's SHA-256, the /dl/ response carries exactly the four headers
    of DESIGN.md §6, came from the Service Worker, and the token in its URL works once."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_file_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email])
    group = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    data = os.urandom(1024 * 1024 + 4321)
    send_age_file(group, bob, server, data, NAME, "application/octet-stream")
    responses = dl_responses(page)

    with page.expect_download() as info:
        page.get_by_role("button", name=f"Download {NAME}").click()
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename == NAME
    assert hashlib.sha256(open(download.path(), "rb").read()).digest() == \
        hashlib.sha256(data).digest()
    expect(page.locator(".v2-download-error")).to_have_count(0)
    assert page.evaluate("navigator.serviceWorker.getRegistration('/dl/')"
                         ".then((r) => r.active.scriptURL)") == server.url + script_path()
    assert len(responses) == 1, [r.url for r in responses]
    response = responses[0]
    assert response.from_service_worker
    assert response.status == 200
    assert response.all_headers() == EXPECTED_HEADERS
    # The token was used: the same URL again is refused by the worker, not served.
    assert page.evaluate("(url) => fetch(url).then((r) => r.status)", response.url) == 404
    assert page.errors == []


def test_a_forged_file_gives_no_completed_download(server, transactional_db, new_page):  # noqa: F811
    """After one payload byte of the stored blob is flipped, the worker errors the stream
    at the end: the browser's download fails (nothing complete on disk) and the chat
    shows the forgery; its preview does not open either. Positive control: the same file
    before the flip downloads whole."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_file_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email])
    group = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    data = os.urandom(600 * 1024 + 5)
    doc, sealed = send_age_file(group, bob, server, data, "forged.bin", "text/plain")
    button = page.get_by_role("button", name="Download forged.bin")
    with page.expect_download() as info:
        button.click()
    assert info.value.failure() is None
    assert open(info.value.path(), "rb").read() == data  # the control

    blob = server.media_root / CipherUpload.objects.get(pk=doc["upload_id"]).blob_name
    tampered = bytearray(sealed)
    tampered[len(sealed) - 70_000] ^= 0x01
    blob.write_bytes(bytes(tampered))
    expect(button).to_be_enabled()
    with page.expect_download() as info:
        button.click()
    download = info.value
    assert download.failure() is not None
    expect(page.locator(".v2-download-error")).to_have_text(FORGERY)
    # Nor does the forged file open in a preview.
    page.get_by_role("button", name="Preview forged.bin").click()
    expect(page.locator(".v2-preview-failed")).to_be_visible()
    expect(page.locator(".v2-download-error")).to_have_text(FORGERY)
    assert all(("file download failed" in e) for e in page.errors), page.errors


def test_a_worker_script_that_fails_the_pages_integrity_check_is_not_registered(
        server, transactional_db, new_page):  # noqa: F811
    """The page fetches the worker's script with the manifest's integrity before it
    registers it: with another integrity the worker is never registered, the failure is
    logged, and the download falls back to decrypting in the page — the same bytes."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    files = file_config()
    files["downloadWorker"]["integrity"] = "sha384-" + "A" * 64
    page = open_file_chat(new_page, server, alice, files=files)
    conversation = start_conversation(page, [bob.email])
    group = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    data = os.urandom(300 * 1024)
    send_age_file(group, bob, server, data, "fallback.bin", "application/octet-stream")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download fallback.bin").click()
    assert open(info.value.path(), "rb").read() == data
    assert info.value.url.startswith("blob:")
    assert page.evaluate("navigator.serviceWorker.getRegistration('/dl/')") is None
    assert page.evaluate("window.chat.engine.conversations.get(window.chat.engine.openId)"
                         ".items.find((i) => i.file).download.fallback") is True
    # Chromium's own two SRI messages, then the chat's.
    assert [("integrity" in e, "no download service worker" in e) for e in page.errors] == [
        (True, False), (True, False), (True, True)], page.errors


def test_the_server_serves_the_worker_script_by_hash_and_404s_every_other_dl_path(
        server, transactional_db):  # noqa: F811
    """/dl/sw-<hash>.js is the current build's bundle (as JavaScript, under the site's
    CSP, never cached); another hash, /dl/<token> and /dl/ itself are 404: only the
    browser's worker answers those."""
    r = httpx.get(server.url + script_path())
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert "no-cache" in r.headers["cache-control"] or "max-age=0" in r.headers["cache-control"]
    assert "'wasm-unsafe-eval'" in r.headers["content-security-policy"]
    manifest_file = next(BUNDLE_DIR.glob("v2/files/download-sw-*.js"))
    assert r.content == manifest_file.read_bytes()
    for path in ("/dl/sw-0000000000000000.js", "/dl/" + "ab" * 16, "/dl/", "/dl/x/y"):
        assert httpx.get(server.url + path).status_code == 404, path
    # The shell names the same script and bundles, and the preview limit.
    shell = httpx.get(server.url + "/").text
    config = json.loads(re.search(r'<script id="v2-config" type="application/json">(.*?)</script>',
                                  shell).group(1))
    files = file_config()
    assert config["previewMax"] == files["previewMax"] == 64 * 1024 * 1024
    for name in ("download-worker", "pdf-renderer", "pdf-worker"):
        key = {"download-worker": "downloadWorker", "pdf-renderer": "pdfRenderer",
               "pdf-worker": "pdfWorker"}[name]
        assert f'data-{name}-url="{files[key]["url"]}"' in shell
        assert f'data-{name}-integrity="{files[key]["integrity"]}"' in shell
    assert files["downloadWorker"]["url"] == script_path()
