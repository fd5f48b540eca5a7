"""The messaging admin (DESIGN.md §7) after the cutover: version 2 conversations and
messages as metadata only (members, counts, seqs, sizes, times), never a box, a signed
statement or a signature; read only (no add, change or delete)."""

from __future__ import annotations

import base64

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from messaging.models import ConversationV2, MessageV2
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits  # noqa: F401
from tests.support.v2chat import V2User, b64url, group_of, post_json

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


@pytest.fixture
def operator() -> Client:
    """A staff superuser logged in with its auth key and a TOTP code (a verified session)."""
    staff = V2User.signup("operator")
    User.objects.filter(pk=staff.id).update(is_staff=True, is_superuser=True,
                                            email_verified_at=timezone.now())
    device, _ = enrol_totp(staff.user)
    client = Client()
    r = post_json(client, "/api/v1/auth/login", {"email": staff.email,
                                                 "auth_key": b64url(staff.auth_key)})
    assert r.status_code == 200 and r.json()["otp_required"], r.content
    r = post_json(client, "/api/v1/auth/otp", {"code": fresh_code(device)})
    assert r.status_code == 200, r.content
    assert client.get("/admin/").status_code == 200
    return client


def test_conversations_and_messages_show_metadata_and_no_ciphertext(operator, trio):
    alice, bob, _carol = trio
    group = group_of(alice, bob)
    assert group.send(bob, "an earlier one").status_code == 201
    body = group.message(alice, "not for the operator")
    assert post_json(alice.http, group.url("messages"), body).status_code == 201
    conversation = ConversationV2.objects.get(pk=group.hex)
    message = MessageV2.objects.get(conversation=conversation, seq=conversation.last_seq)
    secrets = [body["box"], body["statement"], body["signature"],
               bytes(message.box).hex(), base64.b64encode(bytes(message.box)[:48]).decode()]

    listing = operator.get("/admin/messaging/conversationv2/")
    assert listing.status_code == 200
    assert alice.email in listing.text and bob.email in listing.text
    page = operator.get(f"/admin/messaging/conversationv2/{group.hex}/change/")
    assert page.status_code == 200 and alice.email in page.text
    messages = operator.get("/admin/messaging/messagev2/")
    assert messages.status_code == 200 and alice.email in messages.text
    detail = operator.get(f"/admin/messaging/messagev2/{message.pk}/change/")
    assert detail.status_code == 200 and "stored" in detail.text
    for html in (listing.text, page.text, messages.text, detail.text):
        for secret in secrets:
            assert secret not in html

    # Read only: no add, no delete, and a POST changes nothing.
    assert operator.get("/admin/messaging/conversationv2/add/").status_code == 403
    assert operator.get(
        f"/admin/messaging/messagev2/{message.pk}/delete/").status_code in (403, 302)
    operator.post(f"/admin/messaging/messagev2/{message.pk}/change/", {"seq": 99})
    assert MessageV2.objects.get(pk=message.pk).seq == message.seq


def test_the_version_1_admin_pages_are_gone(operator):
    for path in ("/admin/messaging/conversation/", "/admin/messaging/message/"):
        assert operator.get(path).status_code == 404
