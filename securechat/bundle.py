"""Script tags for the SRI-pinned browser bundles (DESIGN.md §1; ``make bundle``).

``tools/bundle.mjs`` writes ``static/dist/manifest.json``: each entry (e.g.
``chat/app``) → its hash-named file and sha384 integrity. The ``bundle`` template
library (``{% load bundle %}``, registered in settings.TEMPLATES) renders the one
script tag of an entry, so every script a page runs is pinned by the page that
names it. The manifest is read once per build: the cache is keyed on the file's
mtime and size, so a rebuild during ``make run`` is picked up on the next page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django import template
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.utils.html import format_html

register = template.Library()

@dataclass(frozen=True)
class BundleEntry:
    """One built file: its path under the manifest's directory, integrity and kind."""

    file: str
    integrity: str
    sha256: str
    type: str  # "module" (an ES module bundle) or "classic" (a copied library)

    @property
    def static_path(self) -> str:
        return f"{settings.SECURECHAT_BUNDLE_STATIC_PREFIX}/{self.file}"


def manifest() -> dict[str, BundleEntry]:
    """The manifest's entries; ImproperlyConfigured when the bundle was never built."""
    path = Path(settings.SECURECHAT_BUNDLE_MANIFEST)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ImproperlyConfigured(f"{path} is missing: run `make bundle`") from None
    return _read(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _read(path: str, mtime_ns: int, size: int) -> dict[str, BundleEntry]:
    """The manifest at ``path`` as it was at (mtime, size): one parse per build."""
    return _parse(Path(path).read_text())


def _parse(text: str) -> dict[str, BundleEntry]:
    data = json.loads(text)
    if data.get("version") != 1:
        raise ImproperlyConfigured("unknown bundle manifest version: run `make bundle`")
    entries = {}
    for name, record in data["entries"].items():
        entry = BundleEntry(record["file"], record["integrity"], record["sha256"], record["type"])
        if not entry.integrity.startswith("sha384-") or entry.type not in {"module", "classic"}:
            raise ImproperlyConfigured(f"bundle manifest entry {name!r} is malformed")
        entries[name] = entry
    return entries


def entry(name: str) -> BundleEntry:
    """The manifest entry ``name``; ImproperlyConfigured names an entry the build lacks."""
    try:
        return manifest()[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"no bundle entry {name!r}: add it to tools/bundle.mjs and run `make bundle`"
        ) from None


@register.simple_tag
def bundle_script(name: str) -> str:
    """``<script>`` of one bundle entry with its ``integrity`` (modules as type=module,
    copied classic libraries with ``defer`` so they run before the modules)."""
    item = entry(name)
    if item.type == "module":
        return format_html(
            '<script type="module" src="{}" integrity="{}" crossorigin="anonymous"></script>',
            static(item.static_path), item.integrity)
    return format_html(
        '<script src="{}" integrity="{}" crossorigin="anonymous" defer></script>',
        static(item.static_path), item.integrity)


@register.simple_tag
def bundle_url(name: str) -> str:
    """The URL of one bundle entry, for scripts a page starts itself (a Worker: worker
    scripts cannot carry SRI, so the page fetches them with ``bundle_integrity`` first)."""
    return static(entry(name).static_path)


@register.simple_tag
def bundle_integrity(name: str) -> str:
    """The sha384 integrity of one bundle entry (see ``bundle_url``)."""
    return entry(name).integrity


DOWNLOAD_WORKER = "v2/files/download-sw"


@register.simple_tag(name="download_worker_url")
def download_worker_path() -> str:
    """``/dl/sw-<first 16 hex digits of its SHA-256>.js``: where the download Service Worker
    is served (securechat/serviceworker.py), so that its scope can be ``/dl/``."""
    return f"/dl/sw-{entry(DOWNLOAD_WORKER).sha256[:16]}.js"
