"""Answers that reveal no more than DESIGN.md §5 allows (issue 17): unknown and
unverified addresses get the same status, body and server work when blocking and
unblocking; blocking any well-formed address answers {ok}; the password-reset mail
is looked up and sent after the response. (Version 2's key reads by conversation:
tests/messaging/test_v2_keys.py; its directory by address: accounts.)"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import emails
from messaging.models import Block
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.accounts import login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]


def post(client, path, data):
    return client.post(path, json.dumps(data), content_type="application/json")


def answer_and_work(client, path, address):
    """(status, body, the SQL statements with their literals masked)."""
    with CaptureQueriesContext(connection) as queries:
        response = post(client, path, {"email": address})
    statements = [re.sub(r"'[^']*'|\b\d+\b", "?", q["sql"]) for q in queries]
    return response.status_code, response.json(), statements


@pytest.mark.parametrize("path", ["/api/v1/users/block", "/api/v1/users/unblock"])
def test_unknown_and_unverified_addresses_look_the_same(path):
    alice, squatter = make_user(), make_user("squat@example.com", verified=False)
    client = login_client(alice)
    client.get("/api/v1/me")  # settle the session's "last seen" before measuring
    unverified = answer_and_work(client, path, squatter.email)
    unknown = answer_and_work(client, path, "nobody@example.com")
    assert unverified == unknown
    assert not any(s.lstrip().upper().startswith(("INSERT", "UPDATE"))
                   for s in unknown[2] if "block" in s.lower())
    assert not Block.objects.exists()


def test_blocking_any_well_formed_address_answers_ok():
    alice, bob = make_user(), make_user()
    client = login_client(alice)
    for address in ("nobody@example.com", "squat@example.com", bob.email, bob.email.upper()):
        r = post(client, "/api/v1/users/block", {"email": address})
        assert (r.status_code, r.json()) == (200, {"ok": True})
    assert list(Block.objects.values_list("blocked", flat=True)) == [bob.user.pk]
    r = post(client, "/api/v1/users/block", {"email": "not an address"})
    assert r.status_code == 400
    assert post(client, "/api/v1/users/unblock", {"email": "nobody@example.com"}).json() == {
        "ok": True}
    assert post(client, "/api/v1/users/unblock", {"email": bob.email}).status_code == 200
    assert not Block.objects.exists()


def test_password_reset_mail_is_looked_up_and_sent_after_the_response(monkeypatch):
    alice = make_user()
    release = threading.Event()
    real = emails._deliver

    def slow_smtp(*args):
        release.wait(5)
        real(*args)

    monkeypatch.setattr(emails, "_deliver", slow_smtp)
    mail.outbox.clear()
    works = []
    for address in (alice.email, "nobody@example.com"):
        started = time.monotonic()
        with CaptureQueriesContext(connection) as queries:
            r = post(Client(), "/api/v1/auth/password-reset", {"email": address})
        assert r.status_code == 200 and time.monotonic() - started < 2
        works.append((r.json(), len(queries)))
    assert works[0] == works[1]  # same answer, same work on the request path
    assert not mail.outbox  # the mail to alice is still on its way
    release.set()
    emails.wait_for_background()
    assert [m.to for m in mail.outbox] == [[alice.email]]
