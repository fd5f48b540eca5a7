"""The download Service Worker's address space, ``/dl/`` (DESIGN.md §6 "Download").

The browser's download Service Worker (``static/js/v2/files/download-sw.js``) is scoped
to ``/dl/`` and nothing else: the app's pages and scripts are never under its control.
A Service Worker's scope cannot be wider than its script's directory, so its script is
served here, at ``/dl/sw-<first 16 hex digits of its SHA-256>.js``, from the same
hash-checked bundle build as every other script (``make bundle``). A name that is not
the current build's is 404, so a page never registers bytes it did not ask for by hash.

Every other ``/dl/…`` path exists only inside the Service Worker (``/dl/<token>``, a
one-time random token the page got from it over a MessageChannel): a request that
reaches the server was not intercepted (no worker, or an expired token), and is 404.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from securechat import bundle

ENTRY = bundle.DOWNLOAD_WORKER
script_path = bundle.download_worker_path  # the URL the page registers


def file_config() -> dict:
    """What the chat's file code needs (static/js/v2/files/ setFileConfig), as the shell
    passes it: the download worker's address and integrity, the PDF renderer's module and
    worker bundles, and SECURECHAT_PREVIEW_MAX (templates/v2/app.html names the same)."""
    def pinned(name: str) -> dict:
        item = bundle.entry(name)
        return {"url": static(item.static_path), "integrity": item.integrity}

    return {"downloadWorker": {"url": script_path(), "integrity": bundle.entry(ENTRY).integrity},
            "pdfRenderer": pinned("v2/files/pdf-render"),
            "pdfWorker": pinned("v2/files/pdf-worker"),
            "previewMax": settings.SECURECHAT_PREVIEW_MAX}


@never_cache
@require_safe
def script(request, digest: str):
    """The download Service Worker's bundle bytes when ``digest`` names the current build
    (as ``text/javascript``, under the site's CSP, which the worker runs under); else 404."""
    item = bundle.entry(ENTRY)
    if digest != item.sha256[:16]:
        raise Http404("no such service worker build")
    path = Path(settings.SECURECHAT_BUNDLE_MANIFEST).parent / item.file
    return HttpResponse(path.read_bytes(), content_type="text/javascript; charset=utf-8")


@require_safe
def not_intercepted(request, rest: str = ""):
    """Any other ``/dl/`` path: only the Service Worker answers these; 404 here."""
    raise Http404("downloads under /dl/ are answered by the browser's service worker")
