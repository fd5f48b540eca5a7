"""Second-factor and unlock check for websockets (DESIGN.md §4).

django-otp's middleware and ``accounts.middleware.LoginSessionMiddleware`` run
for HTTP only, so websocket scopes get the same rule here.
``SecondFactorScopeMiddleware`` sits inside Channels' ``AuthMiddlewareStack``
(it needs ``scope["user"]``, ``scope["session"]`` and ``scope["cookies"]``) and
sets:

    scope["identity"]  the unlocked ``accounts.identity.IdentityFile`` of a
                       complete login (stage "done", a session, and a key
                       cookie that opens the sealed box), else ``None``.

Contract: this middleware never rejects a connection itself. A consumer that
needs a logged-in user MUST treat ``scope["identity"] is None`` as "not
logged in or locked" and close with 4401 (``accounts.events.CLOSE_LOGGED_OUT``)
-- a half-logged-in session (password accepted, code pending, or mandatory
enrolment pending) has a user in ``scope["user"]`` but no identity. It also
sets ``scope["login_session_key"]`` (the Django session key, for
``accounts.events.session_group``) when there is an identity.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from accounts import unlock


@database_sync_to_async
def _identity_for(scope):
    return unlock.unlocked_identity_from_scope(scope)


class SecondFactorScopeMiddleware:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        identity = None
        if scope.get("type") == "websocket":
            identity = await _identity_for(scope)
        scope["identity"] = identity
        session = scope.get("session")
        scope["login_session_key"] = (getattr(session, "session_key", None)
                                      if identity is not None else None)
        return await self.inner(scope, receive, send)
