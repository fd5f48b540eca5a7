"""Safe previews and thumbnails in the browser's chat (DESIGN.md §6 "Previews", issue 14).

The recipient decides what a file is from its decrypted first bytes (never the sender's
type): images, audio and video only as <img>, <audio>, <video> of a re-typed Blob, PDFs
drawn by the bundled PDF.js into canvases, everything else download-only. A sender's
browser puts a JPEG or WebP thumbnail of at most 8 KiB in the encrypted file message;
the recipient draws it at once. One recorded live server for the module (the §9
recorder): the hostile-file test reads every request path it received.
"""

from __future__ import annotations

import base64
import secrets

import pytest
from playwright.sync_api import expect

from securechat.serviceworker import file_config
from tests.browser.file_pages import open_file_chat, send_age_file
from tests.browser.test_v2_chat import HEARTBEAT, Reader, signup, start_conversation
from tests.browser.test_v2_downloads_sw import EXPECTED_HEADERS, dl_responses
from tests.browser.test_v2_file_messages import entry, file_documents
from tests.filestore.v2_support import wait_until
from tests.support.bundle import ensure_built
from tests.support.live import LiveServer
from tests.support.recorder import read_record

pytestmark = [pytest.mark.browser]

# A 640×480 PNG with a gradient and noise (so it does not compress to nothing), attached
# through "Attach a file" as a user picks one.
ATTACH_PHOTO = """async (name) => {
  const canvas = new OffscreenCanvas(640, 480);
  const g = canvas.getContext("2d");
  const image = g.createImageData(640, 480);
  for (let i = 0; i < image.data.length; i += 4) {
    const p = i / 4;
    image.data[i] = (p % 640) * 255 / 640;
    image.data[i + 1] = Math.floor(p / 640) * 255 / 480;
    image.data[i + 2] = (p * 2654435761 >>> 24) & 0xff;
    image.data[i + 3] = 255;
  }
  g.putImageData(image, 0, 0);
  const blob = await canvas.convertToBlob({ type: "image/png" });
  const transfer = new DataTransfer();
  transfer.items.add(new File([blob], name, { type: "image/png" }));
  const input = document.getElementById("v2-attach");
  input.files = transfer.files;
  input.dispatchEvent(new Event("change", { bubbles: true }));
  return blob.size;
}"""
# A one-second WebM recorded in the page (MediaRecorder on a canvas stream), as base64.
RECORD_WEBM = """async () => {
  const canvas = document.createElement("canvas");
  canvas.width = 160;
  canvas.height = 120;
  const g = canvas.getContext("2d");
  const stream = canvas.captureStream(15);
  const recorder = new MediaRecorder(stream, { mimeType: "video/webm" });
  const parts = [];
  recorder.ondataavailable = (e) => parts.push(e.data);
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.start(100);
  for (let frame = 0; frame < 15; frame++) {
    g.fillStyle = `hsl(${frame * 24}, 80%, 50%)`;
    g.fillRect(0, 0, 160, 120);
    await new Promise((resolve) => setTimeout(resolve, 66));
  }
  recorder.stop();
  await stopped;
  const bytes = new Uint8Array(await new Blob(parts).arrayBuffer());
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}"""
BLUE_PIXELS = """() => {
  const canvas = document.querySelector(".v2-preview-pages canvas");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let blue = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] < 60 && data[i + 1] < 60 && data[i + 2] > 200) blue += 1;
  }
  return blue;
}"""


def tiny_pdf(catalog: bytes = b"") -> bytes:
    """A one-page PDF (300×200 pt) whose only content is a blue rectangle (no fonts);
    ``catalog``: more entries for its catalog (an /OpenAction, say)."""
    content = b"0 0 1 rg 50 50 200 100 re f"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R %s>>" % catalog,
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R"
        b" /Resources << >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, redis_url, tmp_path_factory):
    """One recorded uvicorn for the module, on the test database."""
    ensure_built()
    live = LiveServer("uvicorn", tmp_path_factory.mktemp("v2-previews"), record=True,
                      extra_env={"SECURECHAT_RATE_SIGNUP_ADDRESS": "1000/3600",
                                 "SECURECHAT_WS_HEARTBEAT_SECONDS": str(HEARTBEAT)}).start()
    yield live
    live.stop()


def pair(server, new_page):
    """Alice in Chromium and Bob (a Python client) in a direct conversation."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_file_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email])
    group = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    return alice, bob, page, conversation, group


def test_an_image_shows_its_thumbnail_without_a_click_and_opens_in_the_preview(
        server, transactional_db, new_page):
    """Alice attaches a PNG: her browser puts a JPEG or WebP thumbnail of at most 8 KiB in
    the encrypted message (Bob's Python client reads it there). Bob's browser draws it
    in the conversation before anyone clicks anything, and "Preview" shows the image
    itself, decoded from the sniffed Blob in an <img>."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    alice_page = open_file_chat(new_page, server, alice)
    conversation = start_conversation(alice_page, [bob.email])
    alice_page.evaluate(ATTACH_PHOTO, "photo.png")
    expect(alice_page.locator(".v2-message.mine .state")).to_have_text(["Sent"])

    [(_, kind, doc)] = file_documents(Reader(bob, conversation, [alice, bob]))
    thumbnail = base64.b64decode(doc["thumbnail"])
    assert kind == "file" and 0 < len(thumbnail) <= 8 * 1024
    assert thumbnail[:3] == b"\xff\xd8\xff" or (thumbnail[:4], thumbnail[8:12]) == (
        b"RIFF", b"WEBP")

    bob_page = open_file_chat(new_page, server, bob)
    bob_page.locator(".v2-open").first.click()
    drawn = bob_page.locator(".v2-message.theirs .v2-thumbnail canvas")
    expect(drawn).to_have_count(1)
    assert drawn.evaluate("(c) => [c.width, c.height]")[0] > 0
    expect(bob_page.locator(".v2-preview")).to_be_hidden()

    bob_page.get_by_role("button", name="Preview photo.png").click()
    image = bob_page.locator(".v2-preview img")
    expect(image).to_have_attribute("alt", "Preview of photo.png")
    bob_page.wait_for_function(
        "() => document.querySelector('.v2-preview img')?.naturalWidth === 640")
    assert image.evaluate("(img) => img.src.startsWith('blob:')")
    bob_page.keyboard.press("Escape")  # Esc closes the preview, as its Close button does
    expect(bob_page.locator(".v2-preview")).to_be_hidden()
    assert alice_page.errors == [] and bob_page.errors == []


def test_a_pdf_renders_into_a_canvas_and_a_recorded_video_plays(
        server, transactional_db, new_page):
    """Bob sends a PDF and a WebM (recorded in Alice's page with MediaRecorder), both
    labelled application/octet-stream: Alice's preview sniffs them, draws the PDF's blue
    rectangle into a canvas with the bundled PDF.js, and plays the video in a <video>."""
    _, bob, page, _, group = pair(server, new_page)
    webm = base64.b64decode(page.evaluate(RECORD_WEBM))
    send_age_file(group, bob, server, tiny_pdf(), "scan", "application/octet-stream")
    send_age_file(group, bob, server, webm, "clip", "application/octet-stream")

    page.get_by_role("button", name="Preview scan").click()
    expect(page.locator(".v2-preview")).to_have_attribute("data-kind", "pdf")
    expect(page.locator(".v2-preview-pages")).to_have_attribute("data-pages", "1")
    assert page.evaluate(BLUE_PIXELS) > 1000

    page.get_by_role("button", name="Preview clip").click()
    expect(page.locator(".v2-preview")).to_have_attribute("data-kind", "video")
    page.wait_for_function("() => document.querySelector('.v2-preview video')?.videoWidth === 160")
    assert page.locator(".v2-preview-pages").count() == 0  # the PDF's canvases are gone
    assert page.errors == []


def beacon(tag: bytes) -> bytes:
    """Script that sets the marker and asks the canary path (the test puts in CANARY)."""
    return b"top.__pwned = '%s'; fetch(top.location.origin + '/CANARY/%s');" % (tag, tag)


def test_a_file_over_the_preview_limit_is_not_decrypted_for_a_preview(
        server, transactional_db, new_page):
    """With the page's previewMax at 100 kB, a 150 kB PNG-looking file is download-only:
    the preview says why and nothing is downloaded for it; a 50 kB one opens."""
    files = {**file_config(), "previewMax": 100_000}
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_file_chat(new_page, server, alice, files=files)
    conversation = start_conversation(page, [bob.email])
    group = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    png = bytes.fromhex("89504e470d0a1a0a")
    send_age_file(group, bob, server, png + bytes(150_000), "big.png", "image/png")
    send_age_file(group, bob, server, png + bytes(50_000), "small.png", "image/png")
    downloads = []
    page.on("request", lambda r: "/api/v1/files/" in r.url and downloads.append(r.url))
    page.get_by_role("button", name="Preview big.png").click()
    expect(page.locator(".v2-preview-too-large")).to_have_text(
        "Files over 100 kB are not previewed: download it instead.")
    page.get_by_role("button", name="Preview small.png").click()
    expect(page.locator(".v2-preview")).to_have_attribute("data-kind", "image")
    assert len(downloads) == 1  # the small one's; the big one was never fetched


HOSTILE_HTML = (b"<!doctype html><html><body><p>hello</p><script>" + beacon(b"html-script")
                + b"</script><img src=x onerror=\"" + beacon(b"html-img") + b"\"></body></html>")
HOSTILE_SVG = (b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\" onload=\""
               + beacon(b"svg-onload") + b"\"><script>" + beacon(b"svg-script")
               + b"</script><rect width=\"10\" height=\"10\"/></svg>")
LABELS = [("text/html", ".html"), ("image/svg+xml", ".svg"), ("image/png", ".png"),
          ("application/pdf", ".pdf")]
# The positive control's page: the live server's origin, no CSP (Playwright answers it).
CONTROL = """async ([payloads]) => {
  for (const [text, type] of payloads) {
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    const frame = document.createElement("iframe");
    frame.src = URL.createObjectURL(new Blob([bytes], { type }));
    const loaded = new Promise((resolve) => frame.addEventListener("load", resolve));
    document.body.append(frame);
    await loaded;
  }
  return window.__pwned ?? null;
}"""


def canary_hits(server, canary: str) -> list[str]:
    return [e["path"] for e in read_record(server.record_path)
            if e["event"] == "scope" and canary in e.get("path", "")]


def test_hostile_html_and_svg_run_no_script_in_the_chat_the_preview_or_the_download(
        server, transactional_db, new_page):
    """Bob (a malicious Python client) sends an HTML and an SVG file that carry script,
    each labelled text/html, image/svg+xml, image/png and application/pdf, one of them
    with the SVG as its "thumbnail", and a real PDF whose catalog runs JavaScript on
    opening. In Alice's chat the PDF renders (its script does not run); every other file
    shows by its name without a thumbnail, its preview is download-only, and it saves
    through the Service Worker with exactly the four download headers. `window.__pwned`
    stays unset and no request reaches the canary path the recorded server would log.
    Positive control: the same bytes in a same-origin blob: iframe set the marker and
    reach the canary."""
    canary = f"canary-{secrets.token_hex(8)}"
    html = HOSTILE_HTML.replace(b"CANARY", canary.encode())
    svg = HOSTILE_SVG.replace(b"CANARY", canary.encode())
    _, bob, page, _, group = pair(server, new_page)
    # A real PDF whose catalog runs JavaScript on opening (PDF.js runs no PDF scripts).
    scripted_pdf = tiny_pdf(b"/OpenAction << /S /JavaScript /JS (" + beacon(b"pdf-js")
                            + b") >> ").replace(b"CANARY", canary.encode())
    send_age_file(group, bob, server, scripted_pdf, "scripted.pdf", "application/pdf")
    names = []
    for payload, stem in ((html, "page"), (svg, "drawing")):
        for mime, extension in LABELS:
            name = f"{stem}-{mime.split('/')[1].replace('+', '-')}{extension}"
            extra = {"thumbnail": base64.b64encode(svg).decode()} if not names else {}
            send_age_file(group, bob, server, payload, name, mime, **extra)
            names.append(name)
    expect(page.locator(".v2-message.theirs .file-name")).to_have_text(["scripted.pdf", *names])
    page.get_by_role("button", name="Preview scripted.pdf").click()
    expect(page.locator(".v2-preview-pages")).to_have_attribute("data-pages", "1")
    responses = dl_responses(page)

    for name in names:
        page.get_by_role("button", name=f"Preview {name}").click()
        expect(page.locator("#v2-preview-title")).to_have_text(f"Preview of {name}")
        expect(page.locator(".v2-preview")).to_have_attribute("data-state", "download-only")
        with page.expect_download() as info:
            page.get_by_role("button", name=f"Download {name}").click()
        assert info.value.failure() is None
    expect(page.locator(".v2-thumbnail")).to_have_count(0)  # the SVG "thumbnail" is refused
    assert page.locator(".v2-preview img, .v2-preview video, .v2-preview audio").count() == 0
    assert len(responses) == len(names)
    for name, response in zip(names, responses, strict=True):
        assert response.from_service_worker
        disposition = f"attachment; filename*=UTF-8''{name}"  # these names need no escaping
        assert response.all_headers() == {**EXPECTED_HEADERS, "content-disposition": disposition}
    assert page.evaluate("window.__pwned ?? null") is None
    assert canary_hits(server, canary) == []
    assert page.errors == []

    control = new_page(server)
    control.route(server.url + "/__control__", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>control</title>"))
    control.goto("/__control__")
    marker = control.evaluate(CONTROL, [[[base64.b64encode(html).decode(), "text/html"],
                                         [base64.b64encode(svg).decode(), "image/svg+xml"]]])
    assert marker is not None
    wait_until(lambda: {f"/{canary}/html-script", f"/{canary}/svg-script"}
               <= set(canary_hits(server, canary)), what="the control's canary requests")


SNIFF_CASES = [
    ("89504e470d0a1a0a0000000d49484452", "image/png"),
    ("ffd8ffe000104a464946", "image/jpeg"),
    (b"GIF89a\x01\x00".hex(), "image/gif"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ".hex(), "image/webp"),
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00".hex(), "video/mp4"),
    ("1a45dfa39f4286810142f7810142f2810442f381084282847765626d", "video/webm"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ".hex(), "audio/wav"),
    (b"OggS\x00\x02".hex(), "audio/ogg"),
    (b"ID3\x04\x00\x00".hex(), "audio/mpeg"),
    ("fffb9064", "audio/mpeg"),
    (b"%PDF-1.7\n".hex(), "application/pdf"),
    (HOSTILE_SVG.hex(), None),
    (HOSTILE_HTML.hex(), None),
    (b"<?xml version='1.0'?><svg/>".hex(), None),
    (b"\x00\x00\x00\x18ftypheic\x00\x00".hex(), None),  # HEIF: not on the list
    (b"\x00\x00\x00\x14ftypqt  ".hex(), None),  # QuickTime
    (b" %PDF-1.7".hex(), None),  # the signature must come first
    ("1a45dfa3a34282888d6174726f736b61", None),  # Matroska that is not WebM
    ("fff0", None),  # too short
    ("", None),
]


def test_the_recipient_types_a_file_only_by_its_first_bytes(server, transactional_db, new_page):
    """sniff() (static/js/v2/files/sniff.js) in Chromium: each allowlisted signature gives
    its type, SVG, HTML, XML, HEIF, QuickTime, Matroska, a late %PDF and short input give
    null (download-only); thumbnailType() takes JPEG and WebP only."""
    page = new_page(server)
    page.goto("/about/")
    url = "/static/dist/" + entry("v2/files/index")["file"]
    got = page.evaluate("""async ([url, cases]) => {
      const { sniff, thumbnailType } = await import(url);
      const bytes = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
      return [cases.map(([hex]) => sniff(bytes(hex))?.type ?? null),
        cases.map(([hex]) => thumbnailType(bytes(hex)))];
    }""", [url, SNIFF_CASES])
    assert got[0] == [expected for _, expected in SNIFF_CASES]
    assert got[1] == [t if t in ("image/jpeg", "image/webp") else None
                      for _, t in SNIFF_CASES]
