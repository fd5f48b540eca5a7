"""``securechat verify-web``: does a server serve the published browser code?

A release publishes one ``<sha256>  <file>`` line per bundle (``make
release-hashes``, the ``sha256sum`` format; ``file`` is relative to the bundle
directory ``/static/dist/``). This module fetches, from the server:

1. the HTML shell at the URL the user gives. Every ``<script>`` must load a
   released file (``src`` under the bundle directory, named in the release) and
   carry an ``integrity`` matching the bytes served; no inline script and no
   ``<link rel=modulepreload>`` to anything else. Rendered pages carry per-session
   values (a CSRF token), so the shell's own hash is printed for the record but
   compared only when the release lists it under the shell's path;
2. the bundle manifest (``/static/dist/manifest.json``) and every file it names:
   each file's SHA-256 must equal the released one, and the manifest must name
   exactly the released files.

What it proves and what not (DESIGN.md §1): it catches a server that serves
modified code to everyone, not one that serves the genuine code to this client
and other code to one targeted browser.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from .errors import LocalFileError, ProtocolError, UsageError
from .http import TIMEOUT_SECONDS, origin_of

__all__ = ["VerifyReport", "parse_release_hashes", "verify"]

DIST_PATH = "/static/dist/"
MANIFEST = "manifest.json"
MAX_BYTES = 32 * 1024 * 1024  # no published file comes near this; a flood is refused
_LINE = re.compile(r"([0-9a-f]{64})  ([A-Za-z0-9._/-]+)")


@dataclass
class VerifyReport:
    """What was compared; ``ok`` only when nothing differed."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    shell_sha256: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.checked)


def parse_release_hashes(path: Path) -> dict[str, str]:
    """``{file: sha256 hex}`` from a ``make release-hashes`` file; refuses anything else."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalFileError(f"cannot read the release hashes {path}: {exc}") from None
    hashes: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.fullmatch(line.rstrip())
        if not match or ".." in match.group(2).split("/"):
            raise UsageError(f"{path}:{number}: not a '<sha256>  <file>' line")
        if match.group(2) in hashes:
            raise UsageError(f"{path}:{number}: {match.group(2)} is listed twice")
        hashes[match.group(2)] = match.group(1)
    if not hashes:
        raise UsageError(f"{path} lists no files")
    return hashes


class _Scripts(HTMLParser):
    """Collects (src, integrity) of every script and modulepreload, and inline scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[tuple[str, str | None]] = []
        self.inline = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            # A data block (Django's json_script: type application/json) is never run
            # by a browser, so it is page data, not code; any other inline script is code.
            data_block = (a.get("type") or "").strip().lower() == "application/json"
            self._in_script = not a.get("src") and not data_block
            if a.get("src"):
                self.loads.append((a["src"], a.get("integrity")))
        elif tag == "link" and "modulepreload" in (a.get("rel") or "").split():
            self.loads.append((a.get("href") or "", a.get("integrity")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline += 1


def _fetch(http: httpx.Client, url: str) -> bytes:
    try:
        with http.stream("GET", url) as response:
            if response.status_code != 200:
                raise ProtocolError(f"{url}: the server answered {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise ProtocolError(f"{url}: larger than {MAX_BYTES} bytes")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise ProtocolError(f"cannot fetch {url} ({type(exc).__name__})") from None


def _sri(data: bytes, integrity: str | None) -> bool:
    """Whether one of the page's ``sha384-…`` values matches the bytes (SRI semantics)."""
    want = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")
    return integrity is not None and want in integrity.split()


def verify(url: str, release: dict[str, str], *, transport=None) -> VerifyReport:
    """Compare what ``url``'s server serves with ``release`` (see the module docstring)."""
    origin = origin_of(url)
    report = VerifyReport()
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False,
                      transport=transport) as http:
        shell = _fetch(http, url)
        report.shell_sha256 = hashlib.sha256(shell).hexdigest()
        _check_shell(http, url, origin, shell, release, report)
        _check_manifest(http, origin, release, report)
    return report


def _check_shell(http, url, origin, shell, release, report) -> None:
    path = urlsplit(url).path or "/"
    if path in release:
        if release[path] != report.shell_sha256:
            report.problems.append(f"the HTML shell {path} differs from the release")
        report.checked.append(path)
    scripts = _Scripts()
    scripts.feed(shell.decode("utf-8", errors="replace"))
    if scripts.inline:
        report.problems.append(f"the HTML shell has {scripts.inline} inline script(s)")
    for src, integrity in scripts.loads:
        full = urljoin(url, src)
        parts = urlsplit(full)
        name = parts.path[len(DIST_PATH):] if parts.path.startswith(DIST_PATH) else None
        if not _same_origin(full, origin):
            report.problems.append(f"the shell loads a script from elsewhere: {src}")
        elif name is None or name not in release or parts.query:
            report.problems.append(f"the shell loads a script that is not released: {src}")
        else:
            data = _fetch(http, full)
            if not _sri(data, integrity):
                report.problems.append(f"the shell's integrity for {name} does not match it")


def _same_origin(url: str, origin: str) -> bool:
    try:
        return origin_of(url.split("?")[0].split("#")[0]) == origin
    except UsageError:
        return False


def _check_manifest(http, origin, release, report) -> None:
    raw = _fetch(http, origin + DIST_PATH + MANIFEST)
    try:
        entries = json.loads(raw)["entries"]
        files = {entry: record["file"] for entry, record in entries.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ProtocolError("the bundle manifest is not the documented JSON") from None
    for entry, name in sorted(files.items()):
        if not isinstance(name, str) or name not in release:
            report.problems.append(f"the server serves {entry} as {name}, which is not released")
            continue
        digest = hashlib.sha256(_fetch(http, origin + DIST_PATH + name)).hexdigest()
        if digest != release[name]:
            report.problems.append(f"{name} differs from the release (sha256 {digest})")
        report.checked.append(name)
    for name in sorted(set(release) - set(files.values()) - set(report.checked)):
        report.problems.append(f"{name} is released but the server does not serve it")
