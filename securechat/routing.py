"""Wiring of the apps' ASGI routes: the raw upload app and the websocket stack.

The apps are imported directly: a broken import fails at start-up, never as routes that
answer 404. Import this module after Django is set up (securechat.asgi does): the apps'
modules touch models.
"""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.conf import settings
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from accounts.websocket import SecondFactorScopeMiddleware
from filestore.tus import application as tus_application
from messaging.routing import websocket_urlpatterns
from securechat.metrics import ROUTE_KEY
from securechat.origins import StrictOriginValidator
from securechat.raw_security import DjangoSecurity

UPLOADS_PREFIX = "/api/v1/uploads"


def raw_http_routes():
    """``(path prefix, ASGI app)`` pairs served before Django, in order; each behind Django's
    Host check, HTTPS redirect and security headers (``securechat.raw_security``)."""
    return [(UPLOADS_PREFIX, DjangoSecurity(tus_application))]


def http_application(django_app):
    routes = raw_http_routes()

    async def app(scope, receive, send):
        path = scope.get("path", "")
        for prefix, raw_app in routes:
            if path == prefix or path.startswith(prefix + "/"):
                scope[ROUTE_KEY] = prefix.lstrip("/") + "/"
                return await raw_app(scope, receive, send)
        return await django_app(scope, receive, send)

    return app


def trust_proxies(app, trusted: list[str] | None = None):
    """Take the client address (and scheme) from ``X-Forwarded-For`` (``-Proto``) only
    when the peer is one of ``SECURECHAT_TRUSTED_PROXIES`` (addresses or networks).

    With none configured (the default) the headers are ignored: rate limits count
    per peer address, and a client cannot choose its own. uvicorn's implementation
    is used (the rightmost untrusted address of the chain), under the project's
    setting instead of uvicorn's command line.
    """
    trusted = settings.SECURECHAT_TRUSTED_PROXIES if trusted is None else trusted
    return ProxyHeadersMiddleware(app, trusted_hosts=list(trusted)) if trusted else app


def websocket_application():
    return StrictOriginValidator(
        AuthMiddlewareStack(SecondFactorScopeMiddleware(URLRouter(websocket_urlpatterns))))
