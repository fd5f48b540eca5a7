"""No admin page shows content (DESIGN.md §7): every changelist, change and history page
of every model registered on the OTP admin site, visited by a staff superuser who logged
in through the real admin login page with a TOTP code, contains no message text and no
file name — raw, base64 or hex — while the metadata it should show (members' emails,
sizes) is there, found by the same probe.
"""

from __future__ import annotations

import pytest

from accounts.models import User
from messaging.actions import do_set_expiry, do_unsend_message
from tests.accounts import enrol_totp, fresh_rate_limits  # noqa: F401
from tests.ops import seed
from tests.ops.admin_crawl import admin_login, crawl
from tests.support.accounts import make_user
from tests.support.probes import forms, leaks, planted

pytestmark = [pytest.mark.usefixtures("fresh_rate_limits")]

TEXTS = ["quokka-marmalade 7341 tells a secret", "zeppelin underwater 5519 plan",
         "an unsent albatross 8822 remark"]
FILE_NAMES = ["tax-return-wombat-2291.pdf", "holiday-narwhal-6604.jpg",
              "unfinished-pangolin-3310.bin"]


def seed_content(server, settings):
    """Users, a conversation with texts, an unsent text, two files and an upload in progress
    (its name only in its encrypted metadata), through the real actions."""
    settings.MEDIA_ROOT = server.media_root
    alice = make_user("alice.admin-probe@example.com")
    bob = make_user("bob.admin-probe@example.com")
    conversation_id = seed.conversation(alice, bob)
    seed.send(alice, conversation_id, TEXTS[0])
    seed.send(bob, conversation_id, TEXTS[1])
    unsent = seed.send(alice, conversation_id, TEXTS[2])
    do_unsend_message(alice.user, conversation_id, unsent.id)
    seed.store_file(alice, conversation_id, b"w" * 123_456, FILE_NAMES[0])
    seed.store_file(bob, conversation_id, b"n" * 70_000, FILE_NAMES[1])
    seed.start_upload(alice, conversation_id, 999_999, FILE_NAMES[2])
    do_set_expiry(alice.user, conversation_id, 86_400)
    return alice, bob


def operator_client(server):
    operator = make_user("operator.admin-probe@example.com")
    User.objects.filter(pk=operator.user.pk).update(is_staff=True, is_superuser=True)
    device, _backup_codes = enrol_totp(operator.user)
    return admin_login(server, operator.email, operator.password, device)


@pytest.mark.dbsensitive
def test_no_admin_page_contains_a_message_text_or_a_file_name(start_server, settings):
    server = start_server("uvicorn")
    alice, bob = seed_content(server, settings)
    # A pending staff invitation: the admin lists it, never its token (nor the token's hash).
    from accounts.actions import do_invite
    from accounts.models import Invitation

    token = do_invite("carol.admin-probe@example.com", staff=True)
    token_hash = Invitation.objects.get().token_hash
    client = operator_client(server)
    try:
        result = crawl(client, per_model=20)
    finally:
        client.close()
    assert {"accounts.User", "accounts.AuditEvent", "accounts.LoginSession",
            "messaging.Conversation", "messaging.Message", "filestore.StoredFile",
            "filestore.Upload", "accounts.Invitation"} <= set(result.models)

    secrets = {**{f"text {i}": t for i, t in enumerate(TEXTS)},
               **{f"file name {i}": n for i, n in enumerate(FILE_NAMES)},
               "invitation token": token, "invitation token hash": token_hash}
    for page in result.pages:
        assert leaks(page.html, secrets) == [], page.url

    everything = result.text()
    # Positive controls: what the admin should show is found by the same probe...
    assert leaks(everything, {"alice": alice.email, "bob": bob.email}) == ["alice", "bob"]
    assert "120.6\xa0KB" in everything  # the first file's size, as metadata
    assert "carol.admin-probe@example.com" in everything  # the invitation's row
    assert "86400 s after sending" in everything  # the conversation's expiry
    # ...and the probe finds a secret in its encoded forms, as a page could carry it.
    for form in forms(TEXTS[0]):
        assert leaks(b"<td>xx" + planted(TEXTS[0], form) + b"yy</td>", {"t": TEXTS[0]}) == ["t"]


@pytest.mark.dbsensitive
def test_admin_pages_are_read_only_for_content(start_server, settings):
    """Conversations, messages, files and uploads: no add, no change form, no delete."""
    server = start_server("uvicorn")
    seed_content(server, settings)
    client = operator_client(server)
    from filestore.models import StoredFile, Upload
    from messaging.models import Conversation, Message

    try:
        for model in (Conversation, Message, StoredFile, Upload):
            opts = model._meta
            base = f"/admin/{opts.app_label}/{opts.model_name}/"
            obj = model.objects.first()
            assert client.get(base + "add/").status_code == 403
            assert client.get(f"{base}{obj.pk}/delete/").status_code == 403
            change = client.get(f"{base}{obj.pk}/change/")
            assert change.status_code == 200
            assert 'name="_save"' not in change.text  # view only
            assert client.get(base).status_code == 200  # positive control
    finally:
        client.close()
