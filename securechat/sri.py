"""Integrity on the admin's script tags (DESIGN.md §1: every script on every page is pinned).

The site's own pages name their scripts through the bundle manifest
(securechat/bundle.py). Django's admin renders its own ``<script src>`` tags: its
static files, the widgets' media and the JavaScript translation catalog (jsi18n).
This middleware adds to each such tag the sha384 of the bytes that URL serves,
computed once per file (keyed on its path and mtime) or per language for the
catalog. A script it cannot vouch for keeps no integrity, and the pinned-code
browser test reports it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import threading
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.decorators import sync_and_async_middleware
from django.views.i18n import JavaScriptCatalog

ADMIN_PREFIX = "/admin/"
SCRIPT_TAG = re.compile(rb"<script\b[^>]*>")
SRC = re.compile(rb'\bsrc="([^"]+)"')
_catalog = JavaScriptCatalog.as_view(packages=["django.contrib.admin"])
_lock = threading.Lock()
# One entry per language of settings.LANGUAGES at the most (computed from a request, so
# not an lru_cache of a pure function).
_catalog_integrity: dict[str, str] = {}


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def static_file(url_path: str) -> Path | None:
    """The file a static URL serves, looked up in whitenoise's order: the finders first
    when it uses them (development), then the collected files (production)."""
    name = url_path.removeprefix(settings.STATIC_URL)
    if name == url_path:
        return None
    if getattr(settings, "WHITENOISE_USE_FINDERS", False):
        found = finders.find(name)
        if isinstance(found, str):
            return Path(found)
    try:
        if staticfiles_storage.exists(name):
            return Path(staticfiles_storage.path(name))
    except NotImplementedError:  # a storage without local paths
        return None
    return None


def file_integrity(path: Path) -> str:
    return _file_sri(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=512)
def _file_sri(path: str, mtime_ns: int) -> str:
    """The integrity of the file at ``path`` as it was at ``mtime_ns`` (a changed file is
    hashed again; the old entry ages out)."""
    return sri(Path(path).read_bytes())


def catalog_integrity(request) -> str:
    """The admin's jsi18n bytes depend only on the active language."""
    language = translation.get_language() or settings.LANGUAGE_CODE
    with _lock:
        cached = _catalog_integrity.get(language)
    if cached is None:
        as_get = copy.copy(request)  # the page may answer a POST; the catalog is a GET
        as_get.method = "GET"
        cached = sri(_catalog(as_get).content)
        with _lock:
            _catalog_integrity[language] = cached
    return cached


def integrity_for(request, src: str) -> str | None:
    parts = urlsplit(src)
    if parts.scheme or parts.netloc:  # not a file of this site
        return None
    path = static_file(parts.path)
    if path is not None:
        return file_integrity(path)
    try:
        match = resolve(parts.path)
    except Resolver404:
        return None
    if match.url_name == "jsi18n" and match.namespace == "admin":
        return catalog_integrity(request)
    return None


def pin_scripts(request, response) -> None:
    """Adds integrity="sha384-…" to each admin script tag whose bytes it can hash."""

    def pin(tag_match: re.Match) -> bytes:
        tag = tag_match.group(0)
        src = SRC.search(tag)
        if src is None or b"integrity=" in tag:
            return tag
        integrity = integrity_for(request, src.group(1).decode())
        if integrity is None:
            return tag
        return tag[:-1] + f' integrity="{integrity}">'.encode()

    response.content = SCRIPT_TAG.sub(pin, response.content)


def applies(request, response) -> bool:
    return (request.path.startswith(ADMIN_PREFIX) and not response.streaming
            and response.get("Content-Type", "").startswith("text/html"))


@sync_and_async_middleware
def admin_script_integrity(get_response):
    """Middleware: pins the admin's script tags (see the module docstring)."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            response = await get_response(request)
            if applies(request, response):
                await sync_to_async(pin_scripts)(request, response)
            return response

    else:

        def middleware(request):
            response = get_response(request)
            if applies(request, response):
                pin_scripts(request, response)
            return response

    return middleware
