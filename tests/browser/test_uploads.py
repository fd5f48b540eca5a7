"""Files in the browser: drag and drop, a progress bar, resume after a reload
(tus-js-client served from the site), and a download with the same bytes."""

from __future__ import annotations

import base64
import hashlib
import random

import pytest
from playwright.sync_api import expect

from tests.browser import flows

pytestmark = [pytest.mark.browser]

SIZE = 20 * 1024 * 1024
NAME = "holiday-video.bin"
LAST_MODIFIED = 1_700_000_000_000
PIECE = 4 * 1024 * 1024
THROTTLED = 1536 * 1024  # bytes per second while the upload is to be interrupted


def put_file_in_page(page, data: bytes) -> None:
    """Build ``window.testFile`` (a File) in the page from ``data``, in pieces."""
    page.evaluate("() => { window.testParts = []; }")
    for start in range(0, len(data), PIECE):
        chunk = base64.b64encode(data[start:start + PIECE]).decode()
        page.evaluate("""(b64) => {
            const raw = atob(b64);
            const bytes = new Uint8Array(raw.length);
            for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
            window.testParts.push(bytes);
        }""", chunk)
    page.evaluate("""([name, lastModified]) => {
        window.testFile = new File(window.testParts, name,
            {type: "application/octet-stream", lastModified});
        window.testParts = null;
    }""", [NAME, LAST_MODIFIED])


def drop_file(page) -> None:
    """Drag ``window.testFile`` over the conversation and drop it (real DragEvents)."""
    page.evaluate("""() => {
        const data = new DataTransfer();
        data.items.add(window.testFile);
        const target = document.querySelector("#messages") || document.getElementById("chat-main");
        for (const type of ["dragenter", "dragover", "drop"]) {
            target.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true,
                                                      cancelable: true}));
        }
    }""")


def stored_upload_url(page) -> str | None:
    """The upload URL tus-js-client remembered for resuming (localStorage)."""
    return page.evaluate("""() => {
        for (let i = 0; i < localStorage.length; i++) {
            const key = localStorage.key(i);
            if (key.startsWith("tus::")) return JSON.parse(localStorage.getItem(key)).uploadUrl;
        }
        return null;
    }""")


def committed_offset(page, url: str) -> int:
    """The server's committed offset (tus HEAD), asked with the page's own cookies."""
    response = page.request.head(url, headers={"Tus-Resumable": "1.0.0"})
    assert response.status == 200, response.status
    return int(response.headers["upload-offset"])


def test_drag_and_drop_upload_resumes_after_reload_and_downloads_intact(start_server,
                                                                        new_page):
    """A 20 MiB file dropped at a throttled rate shows a moving progress bar; a reload
    strictly mid-upload loses nothing committed: dropping the same file again resumes
    from the server's offset (sending fewer bytes than the size), and the contact
    downloads a file with the same SHA-256."""
    server = start_server("uvicorn")
    alice, bob, conversation, _ = flows.two_logged_in_users(server, new_page)
    data = random.Random(7).randbytes(SIZE)

    cdp = alice.context.new_cdp_session(alice)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": THROTTLED})

    put_file_in_page(alice, data)
    drop_file(alice)
    row = alice.locator("#uploads .upload")
    expect(row).to_have_count(1)
    expect(row.locator(".upload-name")).to_contain_text(NAME)
    progress = row.locator("progress")
    seen = []
    url = None
    offset = 0
    # Watch the bar move and the server commit, until a quarter is stored.
    for _ in range(600):
        value = float(progress.get_attribute("value") or 0)
        if not seen or value != seen[-1]:
            seen.append(value)
        url = url or stored_upload_url(alice)
        if url:
            offset = committed_offset(alice, url)
            if offset >= SIZE // 4:
                break
        alice.wait_for_timeout(100)
    assert url and 0 < offset < SIZE
    assert len([v for v in seen if 0 < v < 100]) >= 3, seen  # the bar moved
    expect(row.locator(".upload-stats")).to_contain_text("/s")  # speed shown
    expect(row.locator(".upload-stats")).to_contain_text("left")  # time left shown

    alice.reload()
    # Bytes already in flight when the page went away may still be committed by the
    # server: wait until the committed offset stops moving before resuming.
    resume_from = committed_offset(alice, url)
    for _ in range(50):
        alice.wait_for_timeout(500)
        settled = committed_offset(alice, url)
        if settled == resume_from:
            break
        resume_from = settled
    assert 0 < resume_from < SIZE, resume_from  # the reload landed strictly mid-upload
    expect(alice.locator("#interrupted-uploads")).to_contain_text(NAME)

    patches = []
    alice.on("request", lambda r: r.method == "PATCH" and patches.append(r))
    posts = []
    alice.on("request", lambda r: r.method == "POST" and "/uploads" in r.url
             and posts.append(r))
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": 8 * 1024 * 1024})
    put_file_in_page(alice, data)
    drop_file(alice)
    expect(alice.locator("#uploads .upload[data-resumed='true']")).to_have_count(1)
    link = bob.locator("#messages .file-card a.file-name")
    expect(link).to_have_text(NAME, timeout=60_000)
    expect(bob.locator("#messages .file-card .file-size")).to_have_text("20.0 MB")
    expect(alice.locator("#messages .file-card a.file-name")).to_have_text(NAME)

    assert posts == []  # no new upload was created: the same one resumed
    assert patches, "the resume sent no PATCH"
    first_offset = int(patches[0].headers["upload-offset"])
    assert first_offset == resume_from
    # Bytes on the wire after the reload: each PATCH's Content-Length, as Chromium sent it.
    sent_after_reload = sum(int(p.all_headers()["content-length"]) for p in patches)
    assert sent_after_reload == SIZE - resume_from < SIZE

    with bob.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == NAME
    with open(download.path(), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert alice.errors == [] and bob.errors == []
