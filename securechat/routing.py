"""Wiring of the apps' ASGI routes: the raw upload app and the websocket stack."""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter

from securechat.metrics import ROUTE_KEY
from securechat.origins import StrictOriginValidator

UPLOADS_PREFIX = "/api/v1/uploads"


def raw_http_routes():
    """``(path prefix, ASGI app)`` pairs served before Django, in order."""
    routes = []
    try:
        from filestore.tus import application as tus_application
    except ImportError:  # filestore's upload server not built yet
        return routes
    routes.append((UPLOADS_PREFIX, tus_application))
    return routes


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


def websocket_application():
    from messaging.routing import websocket_urlpatterns

    stack = AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
    try:
        from accounts.websocket import SecondFactorScopeMiddleware
    except ImportError:  # accounts' scope middleware not built yet
        pass
    else:
        stack = AuthMiddlewareStack(SecondFactorScopeMiddleware(URLRouter(websocket_urlpatterns)))
    return StrictOriginValidator(stack)
