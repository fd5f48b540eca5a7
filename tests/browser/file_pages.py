"""Chat pages with everything file messages use (issue 14): the encrypt worker, the
download Service Worker, the PDF renderer and the preview limit, named exactly as the
/ shell names them (``accounts.views.v2.file_config``), and a Python sender's file
message (real age files uploaded with tuspy, signed like a client's)."""

from __future__ import annotations

from client import filehash
from securechat.serviceworker import file_config
from tests.browser.test_v2_file_messages import open_chat, send_file, tus_upload
from tests.filestore.v2_support import age_file


def open_file_chat(new_page, server, user, files: dict | None = None):
    """A page of the live server running the v2 chat as ``user`` with the shell's file
    config (``files`` overrides it)."""
    return open_chat(new_page, server, user, files if files is not None else file_config())


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
