"""Login: the password step, the code step, logout, ``?next=`` and the OTP admin."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from accounts import unlock
from accounts.models import AuditEvent, LoginSession
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits, post_json  # noqa: F401
from tests.support.accounts import make_user

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
    """Password step and code step each issue a new session key; the previous key is dead,
    and the LoginSession row follows the key."""
    u = make_user()
    device, _ = enrol_totp(u.user)
    client.session.save()  # an anonymous session exists before login
    k0 = session_key(client) or client.session.session_key
    client.cookies[settings.SESSION_COOKIE_NAME] = k0
    assert Session.objects.filter(session_key=k0).exists()

    r = post_json(client, "/api/v1/auth/login", {"email": u.email, "password": u.password})
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
    old.cookies[unlock.KEY_COOKIE_NAME] = client.cookies[unlock.KEY_COOKIE_NAME].value
    assert old.get("/api/v1/auth/recovery-code/confirm").status_code == 405
    assert post_json(old, "/api/v1/auth/recovery-code/confirm").status_code == 401
    assert post_json(client, "/api/v1/auth/recovery-code/confirm").status_code == 409


def test_login_without_second_factor_is_complete_at_once(client):
    u = make_user()
    r = post_json(client, "/api/v1/auth/login", {"email": u.email.upper(), "password":
                                                 u.password})
    assert r.json() == {"otp_required": False, "email_verification_required": False,
                        "enrolment_required": False}
    assert client.session[unlock.SESSION_STAGE] == unlock.STAGE_DONE
    assert client.cookies[unlock.KEY_COOKIE_NAME].value
    assert AuditEvent.objects.filter(user=u.user, kind="login").count() == 1


@pytest.mark.parametrize("body", [
    {"email": "nobody@example.com", "password": "correct horse battery staple"},
    {"email": "RIGHT", "password": "wrong password of some length"},
    {"email": "RIGHT", "password": ""},
    {"email": "RIGHT"},
    {"email": ["a"], "password": 3},
    {"email": "RIGHT", "password": "x" * 5000},
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
        r = post_json(client, "/api/v1/auth/login", {"email": u.email, "password": "w" * 12})
        assert r.status_code == 401
    r = post_json(client, "/api/v1/auth/login", {"email": u.email, "password": u.password})
    assert r.status_code == 429
    assert r.json()["error"] == "rate_limited" and int(r["Retry-After"]) >= 1
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_login_everywhere(client):
    """Logout flushes the session, deletes the key cookie and ends the LoginSession row."""
    u = make_user()
    post_json(client, "/api/v1/auth/login", {"email": u.email, "password": u.password})
    key = session_key(client)
    r = post_json(client, "/api/v1/auth/logout")
    assert r.status_code == 200
    assert not Session.objects.filter(session_key=key).exists()
    assert LoginSession.objects.get(user=u.user).ended_at is not None
    assert client.cookies[unlock.KEY_COOKIE_NAME].value == ""
    assert AuditEvent.objects.filter(user=u.user, kind="logout").exists()


def test_login_page_two_steps_and_next(client):
    """The pages: password, then code, then ``next`` when it is a same-site path."""
    u = make_user()
    device, _ = enrol_totp(u.user)
    r = client.post("/login/?next=/about/", {"email": u.email, "password": u.password,
                                             "next": "/about/"})
    assert r.status_code == 302 and r["Location"] == "/login/code/?next=%2Fabout%2F"
    r = client.get(r["Location"])
    assert r.status_code == 200 and b"authentication code" in r.content
    r = client.post("/login/code/?next=/about/", {"code": "123", "next": "/about/"})
    assert r.status_code == 400 and b"not valid" in r.content
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    r = client.post("/login/code/", {"code": fresh_code(device), "next": "/about/"})
    assert r.status_code == 302 and r["Location"] == "/about/"


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example/x",
                                    "/\\evil.example", "https:/evil.example"])
def test_next_to_another_site_is_ignored(client, target):
    u = make_user()
    r = client.post("/login/", {"email": u.email, "password": u.password, "next": target})
    assert r.status_code == 302 and r["Location"] == "/"
    # positive control: a same-site path is honoured
    post_json(client, "/api/v1/auth/logout")
    r = client.post("/login/", {"email": u.email, "password": u.password, "next": "/about/"})
    assert r["Location"] == "/about/"


def test_wrong_password_page_shows_a_form_error(client):
    u = make_user()
    r = client.post("/login/", {"email": u.email, "password": "not the password!"})
    assert r.status_code == 401 and b"Wrong email address or password" in r.content


def test_admin_refuses_a_password_only_login(client):
    """A staff superuser without a device cannot reach the admin index: the password step
    alone (site login) is not enough, and the admin login refuses it and leaves nobody in."""
    u = make_user()
    u.user.is_staff = u.user.is_superuser = True
    u.user.save()
    post_json(client, "/api/v1/auth/login", {"email": u.email, "password": u.password})
    assert client.session[unlock.SESSION_STAGE] == unlock.STAGE_DONE
    r = client.get("/admin/")
    assert r.status_code == 302 and r["Location"].startswith("/admin/login/")
    r = client.get(r["Location"])
    assert r.status_code == 200 and b'name="code"' in r.content

    other = Client()
    r = other.post("/admin/login/", {"email": u.email, "password": u.password,
                                     "code": "123456"})
    assert r.status_code == 403 and b"requires a second factor" in r.content
    assert "_auth_user_id" not in other.session
    assert other.get("/admin/").status_code == 302


def test_admin_accepts_password_and_code(client):
    """Positive control: with a confirmed device, the one-page admin login opens the index."""
    u = make_user()
    u.user.is_staff = u.user.is_superuser = True
    u.user.save()
    device, _ = enrol_totp(u.user)
    r = client.post("/admin/login/?next=/admin/", {"email": u.email, "password": u.password,
                                                   "code": fresh_code(device)})
    assert r.status_code == 302 and r["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
