"""The raw tus application answers with Django's security (issue 17; securechat/raw_security.py).

Each test sends the same request to a Django route and to the upload application through
the site's ASGI wiring (``securechat.routing``), built after the settings are chosen, and
compares: the security headers (nosniff, CSP with frame-ancestors, X-Frame-Options,
Referrer-Policy, Cross-Origin-Opener-Policy, and HSTS on secure requests in production),
the HTTPS redirect and the Host check. The tus 412 carries ``Tus-Resumable`` and
``Cache-Control: no-store``. The comparison is not vacuous: every header compared is
present on the Django side.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from django.core.handlers.asgi import ASGIHandler

from securechat.body_limits import BodySizeGuard
from securechat.routing import http_application

SECURITY_HEADERS = ["x-content-type-options", "content-security-policy", "x-frame-options",
                    "referrer-policy", "cross-origin-opener-policy"]
DJANGO_ROUTE = "/login/"  # a Django page
DJANGO_API_ROUTE = "/api/v1/csrf"  # Django's JSON answers, for the 400 body
TUS_ROUTE = "/api/v1/uploads/"
HOST = "127.0.0.1:8000"


async def call(app, method: str, path: str, headers: dict[str, str] | None = None):
    """One HTTP request through ``app`` in process: (status, headers as a dict, body)."""
    raw_headers = [(b"host", HOST.encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    raw_headers = list({name: (name, value) for name, value in raw_headers}.values())
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": raw_headers,
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
    messages = [{"type": "http.request", "body": b"", "more_body": False}]
    sent = []

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays until the answer is sent


    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


def site():
    """The site's HTTP wiring as securechat/asgi.py builds it, under the current settings."""
    return http_application(BodySizeGuard(ASGIHandler()))


def security_of(headers: dict[str, str], names=SECURITY_HEADERS) -> dict[str, str | None]:
    return {name: headers.get(name) for name in names}


@pytest.mark.parametrize("method,tus_headers", [
    ("OPTIONS", {}),                                  # 204, no login needed
    ("POST", {}),                                     # 412: no Tus-Resumable
    ("POST", {"Tus-Resumable": "1.0.0"}),             # 401: not logged in
])
async def test_tus_answers_carry_djangos_security_headers(transactional_db, method, tus_headers):
    app = site()
    _, django_headers, _ = await call(app, "GET", DJANGO_ROUTE)
    status, headers, _ = await call(app, method, TUS_ROUTE, tus_headers)
    expected = security_of(django_headers)
    assert None not in expected.values(), django_headers  # Django sends each of them
    assert "frame-ancestors 'none'" in expected["content-security-policy"]
    assert security_of(headers) == expected, status
    assert "strict-transport-security" not in headers  # development: plain HTTP


async def test_tus_412_carries_tus_resumable_and_no_store(transactional_db):
    status, headers, body = await call(site(), "PATCH", TUS_ROUTE + "abc")
    assert status == 412
    assert headers["tus-resumable"] == "1.0.0" and headers["tus-version"] == "1.0.0"
    assert headers["cache-control"] == "no-store"
    assert json.loads(body)["error"] == "unsupported_version"


@pytest.fixture
def production_security(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    return settings


async def test_in_production_tus_gets_hsts_like_django(transactional_db, production_security):
    app = site()
    https = {"X-Forwarded-Proto": "https", "Tus-Resumable": "1.0.0"}
    _, django_headers, _ = await call(app, "GET", DJANGO_ROUTE, https)
    _, headers, _ = await call(app, "POST", TUS_ROUTE, https)
    names = [*SECURITY_HEADERS, "strict-transport-security"]
    assert django_headers["strict-transport-security"].startswith("max-age=31536000")
    assert security_of(headers, names) == security_of(django_headers, names)


async def test_in_production_plain_http_to_tus_is_redirected_like_django(
        transactional_db, production_security):
    app = site()
    django_status, django_headers, _ = await call(app, "GET", DJANGO_ROUTE)
    status, headers, _ = await call(app, "PATCH", TUS_ROUTE + "abc",
                                    {"Tus-Resumable": "1.0.0"})
    assert (django_status, django_headers["location"]) == (301, f"https://{HOST}{DJANGO_ROUTE}")
    assert (status, headers["location"]) == (301, f"https://{HOST}{TUS_ROUTE}abc")
    # Control: without the production setting the same request reaches the tus app.
    production_security.SECURE_SSL_REDIRECT = False
    status, _, _ = await call(site(), "PATCH", TUS_ROUTE + "abc", {"Tus-Resumable": "1.0.0"})
    assert status == 401


async def test_a_foreign_host_is_refused_by_tus_like_by_django(transactional_db):
    """Host: evil.example gets Django's 400 from both; the site's host passes (control)."""
    app = site()
    evil = {"Host": "evil.example", "Tus-Resumable": "1.0.0"}
    django_status, _, django_body = await call(app, "GET", DJANGO_API_ROUTE, evil)
    status, headers, body = await call(app, "POST", TUS_ROUTE, evil)
    assert django_status == status == 400
    assert json.loads(body) == json.loads(django_body) == {
        "error": "bad_request", "detail": "The request could not be understood."}
    assert headers["x-content-type-options"] == "nosniff"
    status, _, _ = await call(app, "POST", TUS_ROUTE, {"Tus-Resumable": "1.0.0"})
    assert status == 401
