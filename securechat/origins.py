"""Strict websocket origin check.

Channels' ``AllowedHostsOriginValidator`` compares host names only, so an
``http://`` page or another port on the same host would pass. Here the Origin
header must match ``settings.SECURECHAT_ORIGINS`` in scheme, host and port
(``accounts.origins``, shared with the upload application).
"""

from accounts.origins import origin_allowed


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
