"""Looking for secrets in text (pages, logs) in every form a page or a log line could use.

``forms(secret)`` gives the raw text, base64 (standard and URL-safe, at all
three byte alignments, so the secret is found inside a longer encoded value
too) and hex (lower and upper case). ``leaks(text, secrets)`` names the
secrets found. Tests that prove absence use the same probe on a positive
control.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote


def forms(secret: str | bytes) -> list[str]:
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    out = {raw.decode("utf-8", "replace"), quote(raw), quote(raw, safe="")}
    for shift in range(3):
        part = raw[shift:]
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(part).decode().rstrip("=")
            # drop the last (possibly mixed) group: it depends on what follows in a stream
            usable = encoded[: (len(part) // 3) * 4]
            if len(usable) >= 8:
                out.add(usable)
    hexed = binascii.hexlify(raw).decode()
    out |= {hexed, hexed.upper()}
    return sorted(s for s in out if len(s) >= 6)


def leaks(text: str, secrets: dict[str, str | bytes]) -> list[str]:
    """Labels of the secrets that appear in ``text`` in any form."""
    found = []
    for label, secret in secrets.items():
        if any(form in text for form in forms(secret)):
            found.append(label)
    return found
