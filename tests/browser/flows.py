"""Reading email the way a user does, for the browser tests: from the live server's
mail outbox (the file backend's directory, ``server.mail_dir``)."""

from __future__ import annotations

import email
import re
import time
from pathlib import Path

LINK = re.compile(r"https?://\S+")


def mails(server) -> list[tuple[str, str]]:
    """Every email in the server's file outbox, oldest first, as (To, decoded body)."""
    files = sorted(Path(server.mail_dir).glob("*.log"), key=lambda p: p.stat().st_mtime)
    out = []
    for path in files:
        for raw in path.read_text(errors="replace").split("\n" + "-" * 79 + "\n"):
            if not raw.strip():
                continue
            message = email.message_from_string(raw.lstrip("\n"))
            part = next((p for p in message.walk() if p.get_content_type() == "text/plain"),
                        message)
            body = part.get_payload(decode=True) or b""
            out.append((message.get("To", ""), body.decode("utf-8", "replace")))
    return out


def wait_for_link(server, to: str, contains: str, timeout: float = 15) -> str:
    """The newest link containing ``contains`` in a mail to ``to``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for recipient, body in reversed(mails(server)):
            if to.lower() in recipient.lower():
                links = [u for u in LINK.findall(body) if contains in u]
                if links:
                    return links[-1]
        time.sleep(0.1)
    raise AssertionError(f"no mail to {to} with a link containing {contains!r}")
