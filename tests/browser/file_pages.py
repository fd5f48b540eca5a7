"""Chat pages with everything file messages use (issue 14): the encrypt worker, the
download Service Worker, the PDF renderer and the preview limit, named exactly as the
/ shell names them (``accounts.views.v2.file_config``), and a Python sender's file
message (real age files uploaded with tuspy, signed like a client's)."""

from __future__ import annotations

from playwright.sync_api import expect

from accounts.views.v2 import file_config
from client import filehash
from tests.browser.test_v2_chat import keys_of
from tests.browser.test_v2_file_messages import entry, send_file, tus_upload
from tests.filestore.v2_support import age_file

START = """async ([url, keys, encryptWorker, files]) => {
  const { startChat } = await import(url);
  const root = document.createElement("div");
  root.id = "v2-root";
  document.querySelector("main").replaceChildren(root);
  const seed = Uint8Array.from(atob(keys.signingSeed), (c) => c.charCodeAt(0));
  window.chat = await startChat(root, { ...keys, signingSeed: seed }, { encryptWorker, files });
}"""


def open_file_chat(new_page, server, user, files: dict | None = None):
    """A page of the live server running the v2 chat as ``user`` with the shell's file
    config (``files`` overrides it)."""
    page = new_page(server)
    page.context.add_cookies([{"name": c.name, "value": c.value, "url": server.url}
                              for c in user.http.api.http.cookies.jar])
    page.goto("/about/")
    worker = entry("v2/files/encrypt-worker")
    page.evaluate(START, ["/static/dist/" + entry("v2/chat/index")["file"], keys_of(user),
                          {"url": "/static/dist/" + worker["file"],
                           "integrity": worker["integrity"]},
                          files if files is not None else file_config()])
    expect(page.locator(".v2-status")).to_have_text("Connected")
    return page


def send_age_file(group, sender, server, data: bytes, name: str, mime: str, **extra):
    """``sender`` (a Python client) uploads ``data`` as an age file and sends its file
    message named ``name`` with the type ``mime``; (document, sealed age file)."""
    sealed, identity = age_file(data)
    upload = tus_upload(sender, server, sealed)
    doc = {"v": 2, "type": "file", "name": name, "mime": mime, "size": len(data),
           "length": len(sealed), "upload_id": upload, "identity": str(identity),
           "file_hash": filehash.file_hash(sealed).hex(), **extra}
    r = send_file(group, sender, doc)
    assert r.status_code == 201, r.text
    return doc, sealed
