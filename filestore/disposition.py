"""Headers that make a downloaded file safe to serve from the site's origin.

- ``Content-Disposition: attachment`` with an RFC 6266 name: ``filename=`` an
  ASCII fallback (anything but letters, digits and ``._-()+ `` replaced by
  ``_``), ``filename*=UTF-8''…`` the cleaned Unicode name. Cleaning drops path
  components and separators, NUL and every control or format character
  (C0/C1 controls, bidi overrides and isolates, zero-width characters), trims
  dots and spaces at the ends and limits the length.
- ``Content-Type``: the uploaded type only when it is on a short allowlist of
  types browsers never run as a document with script; everything else
  (``text/html``, SVG, XML, JavaScript, unknown) is ``application/octet-stream``.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

MAX_NAME_CHARS = 150
FALLBACK_NAME = "download"
SAFE_TYPES = {
    "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
    "audio/mpeg", "audio/ogg", "audio/wav", "audio/webm", "video/mp4", "video/webm",
    "video/ogg", "application/zip", "text/plain",
}
_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9._\-()+ ]")


def clean_filename(name: str) -> str:
    name = unicodedata.normalize("NFC", str(name))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in {"Cc", "Cf", "Cs",
                                                                      "Zl", "Zp", "Co", "Cn"})
    name = name.strip(" .")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_NAME_CHARS].rstrip(" .")
    return name or FALLBACK_NAME


def ascii_fallback(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = _ASCII_UNSAFE.sub("_", decomposed).strip(" .")
    return fallback if fallback.strip("_") else FALLBACK_NAME


def content_disposition(name: str) -> str:
    cleaned = clean_filename(name)
    return (f'attachment; filename="{ascii_fallback(cleaned)}"; '
            f"filename*=UTF-8''{quote(cleaned, safe='')}")


def safe_content_type(declared: str) -> str:
    base = str(declared or "").split(";")[0].strip().lower()
    if base == "text/plain":
        return "text/plain; charset=utf-8"
    return base if base in SAFE_TYPES else "application/octet-stream"
