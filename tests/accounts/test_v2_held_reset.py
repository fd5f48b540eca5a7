"""Version 2 reset without the recovery code: held for SECURECHAT_RESET_HOLD hours, then
published by the timer job; cancelled by a session, the emailed link or a cancel signed
by the current generation (DESIGN.md §4; docs/api.md "Version 2 account changes").
"""

from __future__ import annotations

import base64
import re
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import HeldReset, KeyGeneration, User
from client import changes, signing
from client.identity import IdentityFile, wrap_to_recovery, wrap_with_passphrase
from client.recovery import generate_code, recovery_identity
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits, post_json  # noqa: F401
from tests.accounts.test_client_keys import PASSWORD, b64url
from tests.accounts.test_v2_account_changes import (
    EMAIL,
    NEW_PASSWORD,
    Changer,
    account,
    keys_for,
    reset_link,
    stored,
)

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

CANCEL_LINK = re.compile(r"https?://[^/\s]+/password-reset/cancel/\S+")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hold_body(device: Changer, link, **override) -> tuple[IdentityFile, dict]:
    """What client.changes.hold_reset sends: a new identity of the next generation only."""
    key_type = settings.SECURECHAT_KEY_TYPE
    code = generate_code()
    identity = IdentityFile.create(key_type, str(recovery_identity(code, key_type).recipient()),
                                   generation=2)
    keys = keys_for(device, NEW_PASSWORD, settings.SECURECHAT_CLIENT_WORK_FACTOR)
    body = {"uid": link.uid, "token": link.token, "auth_key": b64url(keys.auth_key),
            "work_factor": settings.SECURECHAT_CLIENT_WORK_FACTOR, "generation": 2,
            "recipient": identity.recipient(),
            "signing_key": b64url(identity.signing_public_key()),
            "wrapped_identity": b64(wrap_with_passphrase(identity, keys.passphrase)),
            "recovery_wrapped": b64(wrap_to_recovery(identity))}
    body.update(override)
    return identity, body


def hold(device: Changer) -> tuple[IdentityFile, HeldReset]:
    identity, body = hold_body(device, reset_link())
    mail.outbox.clear()
    r = post_json(Client(), "/api/v1/auth/v2/reset/hold", body)
    assert r.status_code == 202, r.content
    return identity, HeldReset.objects.get(pk=r.json()["hold"])


def publish(after_hours: float) -> None:
    HeldReset.objects.filter(state=HeldReset.HELD).update(
        publish_at=timezone.now() + timedelta(hours=settings.SECURECHAT_RESET_HOLD - after_hours))
    call_command("publish_held_resets", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_the_held_reset_publishes_only_after_the_hold():
    device = account()
    before = stored(device.user)
    identity, row = hold(device)
    assert row.publish_at - timezone.now() > timedelta(hours=settings.SECURECHAT_RESET_HOLD - 1)
    assert CANCEL_LINK.search(mail.outbox[-1].body)  # the cancel link was mailed
    assert stored(device.user) == before  # nothing changes during the hold
    assert device.http.get("/api/v1/me").status_code == 200  # sessions stay
    assert Changer(EMAIL, PASSWORD).login().status_code == 200  # the old password works

    publish(after_hours=settings.SECURECHAT_RESET_HOLD - 1)  # an hour early: nothing
    assert stored(device.user) == before
    publish(after_hours=settings.SECURECHAT_RESET_HOLD)
    rows = list(KeyGeneration.objects.filter(user=device.user).order_by("number"))
    assert [(g.number, g.endorsement, g.retired_at is None) for g in rows] == [
        (1, None, False), (2, None, True)]
    assert device.http.get("/api/v1/me").status_code == 401  # every session ended
    assert Changer(EMAIL, PASSWORD).login().status_code == 401
    fresh = Changer(EMAIL, NEW_PASSWORD)
    assert fresh.login().status_code == 200
    # The client's checks accept a file that starts at the unendorsed generation.
    assert fresh.unlock_generations().recipient() == identity.recipient()
    assert HeldReset.objects.get(pk=row.pk).state == HeldReset.PUBLISHED


def test_a_signed_cancel_wins_and_a_bad_signature_changes_nothing():
    device = account()
    _, row = hold(device)
    statement = changes.reset_cancel_statement(device.user.pk, row.pk)
    forged = signing.sign(IdentityFile.create(settings.SECURECHAT_KEY_TYPE,
                                              device.identity.recovery_recipient).signing_key,
                          statement)
    body = {"user_id": device.user.pk, "hold": row.pk, "signature": b64url(forged)}
    r = post_json(Client(), "/api/v1/auth/v2/reset/cancel", body)
    assert (r.status_code, r.json()["field"]) == (400, "signature")
    assert HeldReset.objects.get(pk=row.pk).state == HeldReset.HELD
    good = signing.sign(device.identity.signing_key, statement)
    r = post_json(Client(), "/api/v1/auth/v2/reset/cancel", {**body, "signature": b64url(good)})
    assert r.status_code == 200, r.content  # no session needed
    publish(after_hours=settings.SECURECHAT_RESET_HOLD + 1)  # due, but cancelled: nothing
    assert list(KeyGeneration.objects.filter(user=device.user).values_list("number", flat=True)
                ) == [1]
    assert Changer(EMAIL, PASSWORD).login().status_code == 200
    r = post_json(Client(), "/api/v1/auth/v2/reset/cancel", {**body, "signature": b64url(good)})
    assert r.status_code == 404  # nothing left to cancel


def test_the_emailed_link_and_a_session_can_cancel():
    device = account()
    _, row = hold(device)
    token = CANCEL_LINK.search(mail.outbox[-1].body).group(0)
    r = post_json(Client(), "/api/v1/auth/v2/reset/cancel",
                  {"cancel_token": changes.parse_cancel_link(token)})
    assert r.status_code == 200 and r.json()["cancelled"] == row.pk, r.content
    assert "A SecureChat password reset was cancelled" in [m.subject for m in mail.outbox]
    time.sleep(1.1)  # a link asked for in the same second is the same (spent) token
    _, second = hold(device)  # a new link: the first one is spent
    assert device.http.get("/api/v1/me/v2/reset").json()["hold"]["id"] == second.pk
    assert device.post("/api/v1/auth/v2/reset/cancel", {}).status_code == 200
    assert post_json(Client(), "/api/v1/auth/v2/reset/cancel", {}).status_code == 401


def test_a_hold_never_skips_the_second_factor_and_spends_its_link():
    device = account()
    totp, _ = enrol_totp(device.user)
    link = reset_link()
    _, body = hold_body(device, link)
    r = post_json(Client(), "/api/v1/auth/v2/reset/hold", body)
    assert (r.status_code, r.json()["error"]) == (403, "code_required")
    assert not HeldReset.objects.exists()
    r = post_json(Client(), "/api/v1/auth/v2/reset/hold", {**body, "code": fresh_code(totp)})
    assert r.status_code == 202, r.content
    r = post_json(Client(), "/api/v1/auth/v2/reset/hold", {**body, "code": fresh_code(totp)})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_link")  # replayed link
    assert HeldReset.objects.count() == 1


@pytest.mark.parametrize("override, field", [
    ({"generation": 3}, "generation"),
    ({"signing_key": "AAAA"}, "signing_key"),
    ({"work_factor": 9}, "work_factor"),
])
def test_a_malformed_hold_is_refused_and_changes_nothing(override, field):
    device = account()
    _, body = hold_body(device, reset_link(), **override)
    r = post_json(Client(), "/api/v1/auth/v2/reset/hold", body)
    assert (r.status_code, r.json().get("field")) == (400, field), r.content
    assert not HeldReset.objects.exists()


def test_a_reset_with_the_recovery_code_ends_a_held_one():
    device = account()
    _, row = hold(device)
    from tests.accounts.test_v2_account_changes import recovery_material, reset_body

    time.sleep(1.1)  # a link asked for in the same second is the hold's (spent) token
    link = reset_link()
    identity = changes.open_recovery(recovery_material(link), EMAIL, device.recovery_code)
    assert post_json(Client(), "/api/v1/auth/v2/reset/confirm",
                     reset_body(device, link, identity)).status_code == 200
    assert HeldReset.objects.get(pk=row.pk).state == HeldReset.CANCELLED
    assert User.objects.filter(email=EMAIL).exists()


def _reads(client: Client, method: str, path: str, body=None) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        r = post_json(client, path, body) if method == "POST" else client.get(path)
    assert r.status_code == 200, r.content
    return [q["sql"].split()[0].upper() for q in queries.captured_queries]


def test_the_read_paths_write_nothing_and_cost_the_same_for_more_generations():
    """The recovery material and the pending-reset view: constant queries, no write
    (a rate-limit counter lives in Redis, not the database)."""
    device = account()
    link = reset_link()
    body = {"uid": link.uid, "token": link.token}
    first = _reads(Client(), "POST", "/api/v1/auth/v2/reset/recovery", body)
    pending = _reads(device.http, "GET", "/api/v1/me/v2/reset")
    from tests.accounts.test_v2_account_changes import rotation_body

    for _ in range(2):
        device.identity, rotation = rotation_body(device)
        assert device.post("/api/v1/me/v2/rotate-keys", rotation).status_code == 200
    assert len(KeyGeneration.objects.filter(user=device.user)) == 3
    assert _reads(Client(), "POST", "/api/v1/auth/v2/reset/recovery", body) == first
    assert _reads(device.http, "GET", "/api/v1/me/v2/reset") == pending
    # Session bookkeeping aside (the login's last-seen touch), nothing is written.
    assert not {"INSERT", "DELETE"} & set(first + pending)
    assert "UPDATE" not in first
