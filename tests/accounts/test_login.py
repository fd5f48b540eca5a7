"""Login: the auth-key step, the code step, logout, and the admin behind the site's login
with a second factor."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from accounts import stages
from accounts.models import AuditEvent, LoginSession
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits, post_json  # noqa: F401
from tests.support.accounts import b64url, http_login, login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def session_key(client) -> str | None:
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie else None


def is_logged_in_with(key: str) -> bool:
    """Does a fresh client holding only this session key count as logged in?"""
    other = Client()
    other.cookies[settings.SESSION_COOKIE_NAME] = key
    return other.get("/api/v1/csrf") is not None and Session.objects.filter(
        session_key=key).exists()


def test_each_login_step_rotates_the_session_key_and_kills_the_old_one(client):
    """Auth-key step and code step each issue a new session key; the previous key is dead,
    and the LoginSession row follows the key."""
    u = make_user()
    device, _ = enrol_totp(u.user)
    client.session.save()  # an anonymous session exists before login
    k0 = session_key(client) or client.session.session_key
    client.cookies[settings.SESSION_COOKIE_NAME] = k0
    assert Session.objects.filter(session_key=k0).exists()

    r = http_login(client, u.email, u.password)
    assert r.status_code == 200 and r.json() == {"otp_required": True,
                                                 "email_verification_required": False,
                                                 "enrolment_required": False}
    k1 = session_key(client)
    assert k1 and k1 != k0
    assert not Session.objects.filter(session_key=k0).exists()
    assert LoginSession.objects.get(user=u.user).session_key == k1

    r = post_json(client, "/api/v1/auth/otp", {"code": fresh_code(device)})
    assert r.status_code == 200
    k2 = session_key(client)
    assert k2 and k2 not in {k0, k1}
    assert not Session.objects.filter(session_key=k1).exists()
    assert Session.objects.filter(session_key=k2).exists()
    login = LoginSession.objects.get(user=u.user)
    assert login.session_key == k2 and login.ended_at is None

    # The old key gets nothing; the new one is a complete login.
    old = Client()
    old.cookies[settings.SESSION_COOKIE_NAME] = k1
    assert old.get("/api/v1/auth/recovery-code/confirm").status_code == 405
    assert post_json(old, "/api/v1/auth/recovery-code/confirm").status_code == 401
    assert post_json(client, "/api/v1/auth/recovery-code/confirm").status_code == 409


def test_login_without_second_factor_is_complete_at_once(client):
    u = make_user()
    r = http_login(client, u.email.upper(), u.password)
    assert r.json() == {"otp_required": False, "email_verification_required": False,
                        "enrolment_required": False}
    assert client.session[stages.SESSION_STAGE] == stages.STAGE_DONE
    assert set(client.cookies) <= {settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME}
    assert AuditEvent.objects.filter(user=u.user, kind="login").count() == 1


WRONG_KEY = b64url(bytes(range(32)))


@pytest.mark.parametrize("body", [
    {"email": "nobody@example.com", "auth_key": WRONG_KEY},
    {"email": "RIGHT", "auth_key": WRONG_KEY},
    {"email": "RIGHT", "auth_key": ""},
    {"email": "RIGHT"},
    {"email": ["a"], "auth_key": 3},
    {"email": "RIGHT", "auth_key": "x" * 5000},
])
def test_wrong_credentials_get_401_and_change_nothing(client, body, caplog):
    """Any wrong combination: 401 invalid_credentials, nobody logged in, audit login_failed,
    and the address never reaches the logs."""
    u = make_user()
    body = {k: (u.email if v == "RIGHT" else v) for k, v in body.items()}
    before = LoginSession.objects.count()
    r = post_json(client, "/api/v1/auth/login", body)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_credentials"
    assert LoginSession.objects.count() == before
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(kind="login_failed").count() == 1
    assert u.email not in caplog.text and "nobody@example.com" not in caplog.text


def test_bad_json_is_a_clear_400(client):
    r = client.post("/api/v1/auth/login", data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    r = post_json(client, "/api/v1/auth/login", ["a", "list"])
    assert r.status_code == 400
    assert client.get("/api/v1/auth/login").status_code == 405


def test_per_account_rate_limit_answers_429_with_retry_after(client):
    """After the per-account limit of attempts, even the right password is refused."""
    u = make_user()
    limit, _ = settings.SECURECHAT_RATE_LIMITS["login_account"]
    for _ in range(limit):
        r = http_login(client, u.email, "w" * 12)
        assert r.status_code == 401
    r = http_login(client, u.email, u.password)
    assert r.status_code == 429
    assert r.json()["error"] == "rate_limited" and int(r["Retry-After"]) >= 1
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_login_everywhere(client):
    """Logout flushes the session and ends the LoginSession row."""
    u = make_user()
    http_login(client, u.email, u.password)
    key = session_key(client)
    r = post_json(client, "/api/v1/auth/logout")
    assert r.status_code == 200
    assert not Session.objects.filter(session_key=key).exists()
    assert LoginSession.objects.get(user=u.user).ended_at is not None
    assert AuditEvent.objects.filter(user=u.user, kind="logout").exists()


def test_the_old_login_pages_are_gone(client):
    """Signup and login run in the browser shell; no server page takes a password."""
    u = make_user()
    for path in ("/login/code/", "/signup/recovery-code/", "/account/two-factor/",
                 "/account/backup-codes/", "/me/password/", "/me/export/"):
        r = client.post(path, {"email": u.email, "password": u.password})
        assert r.status_code == 404, path
    assert "_auth_user_id" not in client.session


def staff_user():
    u = make_user()
    u.user.is_staff = u.user.is_superuser = True
    u.user.save()
    return u


def test_admin_login_is_the_sites_login(client):
    """No admin password form: /admin/ sends a visitor to the site's login with ?next=."""
    staff_user()
    r = client.get("/admin/")
    assert r.status_code == 302 and r["Location"].startswith("/admin/login/")
    r = client.get(r["Location"])
    assert r.status_code == 302 and r["Location"] == "/login/?next=%2Fadmin%2F"
    r = client.post("/admin/login/", {"email": "x@example.com", "password": "p" * 12})
    assert r.status_code == 302 and r["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example/x",
                                    "/\\evil.example", "https:/evil.example"])
def test_next_to_another_site_is_ignored(client, target):
    r = client.get("/admin/login/", {"next": target})
    assert r.status_code == 302 and r["Location"] == "/login/?next=%2Fadmin%2F"
    # positive control: a same-site path is honoured
    r = client.get("/admin/login/", {"next": "/admin/accounts/"})
    assert r["Location"] == "/login/?next=%2Fadmin%2Faccounts%2F"


def test_admin_refuses_a_login_without_second_factor(client):
    """A staff superuser without a device logs in on the site (stage done) yet the admin
    stays shut, with a page that says to set up two-factor (and no loop to the login)."""
    u = staff_user()
    assert http_login(client, u.email, u.password).status_code == 200
    assert client.session[stages.SESSION_STAGE] == stages.STAGE_DONE
    r = client.get("/admin/")
    assert r.status_code == 302 and r["Location"].startswith("/admin/login/")
    r = client.get(r["Location"])
    assert r.status_code == 403
    assert b"Set up two-factor to use the admin" in r.content and b'href="/me/"' in r.content
    assert b"password" not in r.content.lower()


def test_admin_refuses_a_non_staff_login(client):
    u = make_user()
    http_login(client, u.email, u.password)
    r = client.get("/admin/login/")
    assert r.status_code == 403 and b"not an administrator" in r.content
    assert client.get("/admin/").status_code == 302


def test_admin_opens_after_the_sites_login_with_a_code(client):
    """Positive control: auth key, then the code step, and the admin index opens."""
    u = staff_user()
    device, _ = enrol_totp(u.user)
    r = http_login(client, u.email, u.password)
    assert r.json()["otp_required"]
    assert client.get("/admin/").status_code == 302  # half logged in: not yet
    assert post_json(client, "/api/v1/auth/otp", {"code": fresh_code(device)}).status_code == 200
    assert client.get("/admin/").status_code == 200
    r = client.get("/admin/login/", {"next": "/admin/"})
    assert r.status_code == 302 and r["Location"] == "/admin/"


def test_a_session_left_from_version_1_is_logged_out():
    """A login made before the cutover (stage "done", a sealed identity, no client custody)
    is not a login any more: its first request is anonymous and its session is flushed."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    u = make_user()
    old = SessionStore()
    old.update({SESSION_KEY: str(u.user.pk), BACKEND_SESSION_KEY: "django.contrib.auth."
                "backends.ModelBackend", HASH_SESSION_KEY: u.user.get_session_auth_hash(),
                stages.SESSION_STAGE: stages.STAGE_DONE, "_securechat_identity": "c2VhbGVk"})
    old.create()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = old.session_key
    assert client.get("/api/v1/me").status_code == 401
    assert not Session.objects.filter(session_key=old.session_key).exists()
    # Positive control: the same user's client-custody login is one.
    assert http_login(Client(), u.email, u.password).status_code == 200
    assert login_client(u).get("/api/v1/me").status_code == 200
