"""HTTP basics: health, error format, security headers and a strict CSP."""

import re

import pytest
from django.test import override_settings

from tests.support.live import REPO_ROOT, free_port


@pytest.mark.django_db
def test_health_reports_a_redis_outage_but_stays_ready(client):
    """With Redis unreachable, readiness (and its alias /api/v1/health) reports it and still
    answers 200: live push degrades, the database stays the record (issue 16)."""
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
        for path in ("/api/v1/health", "/api/v1/health/ready"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert response.json() == {"status": "ok", "database": "ok", "redis": "error",
                                       "storage": "ok"}


def test_liveness_answers_without_touching_anything(client):
    """/api/v1/health/live needs no database (no django_db mark: a query would fail)."""
    response = client.get("/api/v1/health/live")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_health_reports_unwritable_storage(client, tmp_path):
    """A MEDIA_ROOT that cannot be written is reported as a storage error."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with override_settings(MEDIA_ROOT=blocker / "media"):
        response = client.get("/api/v1/health/ready")
    assert response.status_code == 503
    assert response.json()["storage"] == "error"


@pytest.mark.django_db
def test_unknown_api_path_is_a_json_404(client):
    """Errors under /api/ are JSON {error, detail}; pages elsewhere."""
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "No such resource."}
    page = client.get("/nothing-here/")
    assert page.status_code == 404 and b"<html" in page.content


@pytest.mark.django_db
def test_pages_carry_a_strict_csp_and_security_headers(client):
    """Every page sends a CSP without inline script, nosniff, DENY framing, same-origin referrer."""
    response = client.get("/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    # WebAssembly compiles (the file AEAD); eval() and new Function() stay refused.
    assert directives["script-src"] == "'self' 'wasm-unsafe-eval'"
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    # Workers start only from blob: URLs of scripts fetched with integrity (worker-start.js);
    # 'self' is for the download Service Worker, registered from /dl/sw-<hash>.js.
    assert directives["worker-src"] == "blob: 'self'"
    # Previews play decrypted media from blob: URLs; frames stay 'self' only (default-src).
    assert directives["media-src"] == "'self' blob:"
    assert "frame-src" not in directives and "child-src" not in directives
    assert "unsafe-inline" not in csp and "'unsafe-eval'" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
INLINE_STYLE = re.compile(r"\sstyle\s*=|<style", re.I)


def test_templates_have_no_inline_script_or_style():
    """No template relies on inline script, event handler attributes or inline style."""
    templates = list((REPO_ROOT / "templates").rglob("*.html"))
    templates += list(REPO_ROOT.glob("*/templates/**/*.html"))
    assert templates
    offenders = [
        str(t.relative_to(REPO_ROOT)) for t in templates
        if INLINE_SCRIPT.search(t.read_text()) or INLINE_HANDLER.search(t.read_text())
        or INLINE_STYLE.search(t.read_text())
    ]
    assert offenders == []
    # Positive control: the probes catch each form.
    assert INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert not INLINE_SCRIPT.search('<script type="module" src="/static/js/app.js"></script>')
    assert INLINE_HANDLER.search('<button onclick="x()">')
    assert INLINE_STYLE.search('<div style="color:red">')
