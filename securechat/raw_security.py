"""Django's HTTP security for the raw ASGI applications mounted before Django (the tus app).

The upload application answers without Django, so Django's middleware never adds its
headers or enforces its checks there (issue 17, "headers on the raw tus app").
``DjangoSecurity`` wraps such an application and applies, from the same settings and with
Django's own code so the two cannot drift apart:

- the Host check (``ALLOWED_HOSTS``): a foreign Host gets 400 ``bad_request``, as Django
  answers it under /api/;
- the HTTPS redirect (``SECURE_SSL_REDIRECT``, ``SECURE_REDIRECT_EXEMPT``,
  ``SECURE_SSL_HOST``, ``SECURE_PROXY_SSL_HEADER``): 301 to the https address;
- the response headers of ``SecurityMiddleware`` (nosniff, Referrer-Policy,
  Cross-Origin-Opener-Policy, HSTS on secure requests when ``SECURE_HSTS_SECONDS``),
  ``XFrameOptionsMiddleware`` and ``ContentSecurityPolicyMiddleware``. A header the
  application set itself is kept, as Django's middleware keeps it.

The request object is built from the scope and an empty body: the body stays with the
application, which streams it.
"""

from __future__ import annotations

import io

from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csp import ContentSecurityPolicyMiddleware
from django.middleware.security import SecurityMiddleware

from accounts.errors import BadRequest, send_asgi_error

# Django's answer to a foreign Host under /api/ (securechat.errors.bad_request).
BAD_HOST_DETAIL = "The request could not be understood."


def _unused_get_response(request):  # the middleware below are only asked for their hooks
    raise AssertionError("not called")


def security_headers(request) -> list[tuple[bytes, bytes]]:
    """The headers Django's security middleware add to a response to ``request``."""
    response = HttpResponse()
    before = {name.lower() for name in response.headers}
    csp = ContentSecurityPolicyMiddleware(_unused_get_response)
    csp.process_request(request)
    SecurityMiddleware(_unused_get_response).process_response(request, response)
    XFrameOptionsMiddleware(_unused_get_response).process_response(request, response)
    csp.process_response(request, response)
    return [(name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers.items() if name.lower() not in before]


def with_headers(send, extra: list[tuple[bytes, bytes]]):
    """``send`` that adds ``extra`` to the response start, except headers already there."""

    async def sending(message):
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers") or []}
            added = [(name, value) for name, value in extra if name not in present]
            message = {**message, "headers": [*(message.get("headers") or []), *added]}
        await send(message)

    return sending


class DjangoSecurity:
    """ASGI middleware giving a raw HTTP application Django's Host check, HTTPS redirect and
    security headers."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.application(scope, receive, send)
        request = ASGIRequest(scope, io.BytesIO())
        send = with_headers(send, security_headers(request))
        try:
            request.get_host()
        except DisallowedHost:
            return await send_asgi_error(send, BadRequest(BAD_HOST_DETAIL),
                                         head=scope["method"] == "HEAD")
        redirect = SecurityMiddleware(_unused_get_response).process_request(request)
        if redirect is not None:
            await send({"type": "http.response.start", "status": redirect.status_code,
                        "headers": [(b"location", redirect["Location"].encode("latin-1")),
                                    (b"content-length", b"0")]})
            return await send({"type": "http.response.body", "body": b""})
        return await self.application(scope, receive, send)
