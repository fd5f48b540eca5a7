"""A half-logged-in session reaches only the code step, logout, the browser shell (whose
script shows the next login step) and, while 2FA is mandatory, the verification pages
then the enrolment -- every other page answers with a redirect to the shell, every other
API call with 403, and the websocket scope is not a complete login.
"""

from __future__ import annotations

import re
import uuid

import pytest
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts import stages
from accounts.middleware import ENROLMENT_ALLOWED, HALF_LOGGED_IN_ALLOWED, VERIFY_ALLOWED
from accounts.websocket import SecondFactorScopeMiddleware
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits, post_json  # noqa: F401
from tests.support.accounts import http_login, make_user, session_for

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

SAMPLES = {"int": "1", "str": "x", "slug": "x", "path": "x/y", "uuid": str(uuid.uuid4())}


def concrete(pattern) -> str:
    """One path that the pattern matches (converters and regex groups filled in)."""
    text = str(pattern)
    if type(pattern.pattern if hasattr(pattern, "pattern") else pattern).__name__ == \
            "RegexPattern":
        text = re.sub(r"\(\?P<\w+>[^)]*\)", "x", text).lstrip("^").rstrip("$")
        return text
    return re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], text)


def shell_names() -> set[str]:
    """The names of the shell's paths (accounts/urls_v2.py): every one renders the shell."""
    from accounts.views.v2 import app

    return {name for (name, func), _ in all_urls(with_func=True) if func is app}


def all_urls(with_func: bool = False) -> list:
    """Every URL pattern of the project as (view name, example path)."""
    found = []

    def walk(resolver, prefix, namespace):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                ns = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else (
                    entry.namespace or namespace)
                walk(entry, prefix + concrete(entry.pattern), ns)
            elif isinstance(entry, URLPattern):
                name = entry.name or f"<unnamed {entry.pattern}>"
                full = f"{namespace}:{name}" if namespace else name
                found.append(((full, entry.callback) if with_func else full,
                              "/" + prefix + concrete(entry.pattern)))

    walk(get_resolver(), "", None)
    return found


def test_the_enumeration_sees_every_app():
    names = {name for name, _ in all_urls()}
    assert {"health", "api-auth-login", "api-auth-otp", "admin:index", "about"} <= names
    assert len(names) > 30


def half_logged_in_client() -> tuple[Client, object]:
    u = make_user()
    device, _ = enrol_totp(u.user)
    client = Client()
    r = http_login(client, u.email, u.password)
    assert r.json()["otp_required"]
    return client, device


def assert_refused(client, allowed: set[str], error: str = "second_factor_required"):
    next_step = reverse("home")  # the shell shows the login's next step
    checked = 0
    for name, path in all_urls():
        if name in allowed or name in shell_names():
            continue
        for method in ("get", "post"):
            r = post_json(client, path) if method == "post" else client.get(path)
            if path.startswith("/api/"):
                assert r.status_code == 403, (name, path, method, r.status_code)
                assert r.json()["error"] == error, (name, path)
            else:
                assert r.status_code == 302, (name, path, method, r.status_code)
                assert r["Location"] == next_step, (name, path, r["Location"])
            checked += 1
    return checked


def test_code_stage_reaches_only_the_allowed_views():
    client, device = half_logged_in_client()
    checked = assert_refused(client, HALF_LOGGED_IN_ALLOWED)
    assert checked > 40
    # The allowed ones answer normally.
    assert client.get(reverse("home")).status_code == 200
    assert client.get("/api/v1/csrf").status_code == 200
    # Positive control: after the code step the same client reaches the same views.
    assert post_json(client, "/api/v1/auth/otp", {"code": fresh_code(device)}).status_code == 200
    assert client.get("/about/").status_code == 200
    assert client.get("/api/v1/me").status_code == 200
    assert client.get("/api/v1/me/wrapped-identity").status_code == 200


@override_settings(SECURECHAT_REQUIRE_2FA=True)
def test_enrolment_stage_reaches_only_the_allowed_views_and_the_enrolment():
    u = make_user()
    client = Client()
    r = http_login(client, u.email, u.password)
    assert r.json()["enrolment_required"]
    assert_refused(client, HALF_LOGGED_IN_ALLOWED | ENROLMENT_ALLOWED)
    assert post_json(client, "/api/v1/me/totp").status_code == 201  # the enrolment starts


@override_settings(SECURECHAT_REQUIRE_2FA=True)
def test_verification_stage_reaches_only_the_verification_pages_the_resend_and_logout():
    u = make_user(verified=False)
    client = Client()
    r = http_login(client, u.email, u.password)
    assert r.json()["email_verification_required"] and r.json()["enrolment_required"]
    assert not VERIFY_ALLOWED & ENROLMENT_ALLOWED
    checked = assert_refused(client, HALF_LOGGED_IN_ALLOWED | VERIFY_ALLOWED,
                             "email_verification_required")
    assert checked > 40
    assert client.get("/verify-email/pending/").status_code == 200
    assert post_json(client, "/api/v1/auth/verify-email/resend").status_code == 200


def test_half_logged_in_session_holds_only_its_stage_and_gets_no_wrapped_identity():
    """The session keeps the login's stage and nothing of the keys; the wrapped identity
    is only for a complete login."""
    client, device = half_logged_in_client()
    assert client.session[stages.SESSION_STAGE] == stages.STAGE_OTP
    assert set(client.session.keys()) == {"_auth_user_id", "_auth_user_backend",
                                          "_auth_user_hash", stages.SESSION_STAGE,
                                          stages.SESSION_CUSTODY}
    assert client.get("/api/v1/me/wrapped-identity").status_code == 403
    assert post_json(client, "/api/v1/auth/otp", {"code": fresh_code(device)}).status_code == 200
    assert client.get("/api/v1/me/wrapped-identity").status_code == 200  # control


class ScopeRecorder:
    """An inner ASGI app standing where the websocket router is: records the scope."""

    def __init__(self):
        self.scope = None

    async def __call__(self, scope, receive, send):
        self.scope = scope
        await receive()
        await send({"type": "websocket.close", "code": 4401})


async def ws_scope(cookie_header: str):
    recorder = ScopeRecorder()
    app = AuthMiddlewareStack(SecondFactorScopeMiddleware(recorder))
    communicator = WebsocketCommunicator(app, "/ws/", headers=[(b"cookie",
                                                                cookie_header.encode())])
    await communicator.connect()
    await communicator.disconnect()
    return recorder.scope


async def test_websocket_scope_is_not_a_complete_login_for_a_half_logged_in_session():
    """The scope middleware gives the consumer ``login_complete=False`` (the consumer
    closes 4401) for a half-logged-in session or no session, and ``True`` with the
    login's session key for a complete login (positive control). No identity is in
    the scope: the server has none."""
    u = await database_sync_to_async(make_user)()
    half = await database_sync_to_async(session_for)(u, stages.STAGE_OTP)
    done = await database_sync_to_async(session_for)(u, stages.STAGE_DONE)

    scope = await ws_scope(half.cookie_header)
    assert scope["user"].is_authenticated and scope["login_complete"] is False
    assert scope["login_session_key"] is None and "identity" not in scope

    scope = await ws_scope(f"{settings.SESSION_COOKIE_NAME}=not-a-session")
    assert not scope["user"].is_authenticated and scope["login_complete"] is False

    scope = await ws_scope(done.cookie_header)
    assert scope["login_complete"] is True
    assert scope["login_session_key"] == done.session_key
