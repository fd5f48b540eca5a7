"""Strict websocket origin check.

Channels' ``AllowedHostsOriginValidator`` compares host names only, so an
``http://`` page or another port on the same host would pass. Here the Origin
header must equal one of ``settings.SECURECHAT_ORIGINS`` in scheme, host and
port: the same list that feeds ``CSRF_TRUSTED_ORIGINS``.
"""

from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(origin: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an origin, or None when it is not one."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username:
        return None
    return (parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme])


def origin_allowed(origin: str | None) -> bool:
    if not origin:
        return False
    wanted = normalize_origin(origin)
    if wanted is None:
        return False
    return any(normalize_origin(o) == wanted for o in settings.SECURECHAT_ORIGINS)


class StrictOriginValidator:
    """ASGI middleware refusing websocket handshakes from foreign origins (HTTP 403)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            headers = dict(scope.get("headers") or [])
            origin = headers.get(b"origin", b"").decode("latin-1")
            if not origin_allowed(origin):
                # Refusing before accept makes the server answer the upgrade with 403.
                message = await receive()
                if message["type"] == "websocket.connect":
                    await send({"type": "websocket.close", "code": 4403})
                return
        return await self.application(scope, receive, send)
