"""The complete-login check for websockets (DESIGN.md §4).

django-otp's middleware and ``accounts.middleware.LoginSessionMiddleware`` run
for HTTP only, so websocket scopes get the same rule here.
``SecondFactorScopeMiddleware`` sits inside Channels' ``AuthMiddlewareStack``
(it needs ``scope["user"]`` and ``scope["session"]``) and sets:

    scope["login_complete"]     True for a complete login (a client-custody
                                session at stage "done": second factor given),
                                else False;
    scope["login_session_key"]  the Django session key of that login (for
                                ``accounts.events.session_group``), else None.

The server holds no identity: there is no ``scope["identity"]`` any more.

Contract: this middleware never rejects a connection itself. A consumer that
needs a logged-in user MUST treat ``not scope["login_complete"]`` as "not
logged in" and close with 4401 (``accounts.events.CLOSE_LOGGED_OUT``) -- a
half-logged-in session (auth key accepted, code or mandatory enrolment
pending) has a user in ``scope["user"]`` but is not complete.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from accounts import stages


@database_sync_to_async
def _login_complete(scope) -> bool:
    return stages.scope_login_complete(scope)


class SecondFactorScopeMiddleware:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        complete = scope.get("type") == "websocket" and await _login_complete(scope)
        scope["login_complete"] = complete
        session = scope.get("session")
        scope["login_session_key"] = getattr(session, "session_key", None) if complete else None
        return await self.inner(scope, receive, send)
