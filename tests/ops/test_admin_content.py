"""No admin page shows content (DESIGN.md §7): every changelist, change and history page
of every model registered on the OTP admin site, visited by a staff superuser who logged
in the version 2 way (the client library derives ``auth_key`` here, a TOTP code completes
the login, the session opens the admin), contains no message text, group name, file name
or slice of a file's plaintext — in any form of tests/support/probes.py — while the
metadata it should show (members' emails, sizes) is there, found by the same probe.

The content is version 2, made the way users make it: the ``securechat`` CLI encrypts
a group's name, its texts and two files (names inside the encrypted file messages) on
the users' side; the server only ever held ciphertext.
"""

from __future__ import annotations

import os

import pytest

from accounts.models import User
from tests.accounts import enrol_totp, fresh_rate_limits  # noqa: F401
from tests.client.test_cli_messages import PASSWORD, CliUser
from tests.ops.admin_crawl import client_login, crawl
from tests.support.probes import forms, leaks, planted

pytestmark = [pytest.mark.usefixtures("fresh_rate_limits")]

GROUP_NAME = "the quokka-marmalade 7341 society"
TEXTS = ["quokka-marmalade 7341 tells a secret", "zeppelin underwater 5519 plan"]
FILE_NAMES = ["tax-return-wombat-2291.pdf", "holiday-narwhal-6604.jpg"]


def seed_content(server, tmp_path) -> tuple[CliUser, CliUser, dict[str, str | bytes]]:
    """Alice and Bob, a named group with two texts and two files, all encrypted by the CLI.
    Returns them and the plaintexts the admin must not show."""
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    group = alice.ok("new", bob.email, "--name", GROUP_NAME).split()[2]
    alice.ok("send", group, TEXTS[0])
    bob.ok("send", group, TEXTS[1])
    secrets: dict[str, str | bytes] = {"group name": GROUP_NAME}
    secrets.update({f"text {i}": t for i, t in enumerate(TEXTS)})
    for i, (name, size, sender) in enumerate([(FILE_NAMES[0], 123_456, alice),
                                              (FILE_NAMES[1], 70_000, bob)]):
        path = tmp_path / name
        data = os.urandom(size)
        path.write_bytes(data)
        sender.ok("send", group, "--file", str(path))
        secrets[f"file name {i}"] = name
        secrets[f"file {i} plaintext slice"] = data[40_000:40_032]
    return alice, bob, secrets


def operator_client(server, tmp_path):
    operator = CliUser(server, tmp_path, "operator")
    User.objects.filter(pk=operator.id).update(is_staff=True, is_superuser=True)
    device, _backup_codes = enrol_totp(User.objects.get(pk=operator.id))
    return client_login(server, operator.email, PASSWORD, device)


@pytest.mark.dbsensitive
def test_no_admin_page_contains_a_message_text_or_a_file_name(start_shared_server, tmp_path):
    server = start_shared_server("uvicorn")  # one for the module
    alice, bob, secrets = seed_content(server, tmp_path)
    # A pending staff invitation: the admin lists it, never its token (nor the token's hash).
    from accounts.actions import do_invite
    from accounts.models import Invitation

    token = do_invite("carol.admin-probe@example.com", staff=True)
    secrets.update({"invitation token": token,
                    "invitation token hash": Invitation.objects.get().token_hash})
    client = operator_client(server, tmp_path)
    try:
        result = crawl(client, per_model=20)
    finally:
        client.close()
    assert {"accounts.User", "accounts.AuditEvent", "accounts.LoginSession",
            "accounts.Invitation"} <= set(result.models)
    assert {m.split(".")[0] for m in result.models} >= {"messaging", "filestore"}

    for page in result.pages:
        assert leaks(page.html, secrets) == [], page.url

    everything = result.text()
    # Positive controls: what the admin should show is found by the same probe...
    assert leaks(everything, {"alice": alice.email, "bob": bob.email}) == ["alice", "bob"]
    assert "carol.admin-probe@example.com" in everything  # the invitation's row
    # ...and the probe finds a secret in every form a page could carry it in.
    for form in forms(TEXTS[0]):
        assert leaks(b"<td>xx" + planted(TEXTS[0], form) + b"yy</td>", {"t": TEXTS[0]}) == ["t"]


@pytest.mark.dbsensitive
def test_admin_pages_are_read_only_for_content(start_shared_server, tmp_path):
    """Every messaging and filestore model: no add, no change form, no delete."""
    from django.contrib import admin

    from accounts.admin_site import site

    server = start_shared_server("uvicorn")  # one for the module
    seed_content(server, tmp_path)
    client = operator_client(server, tmp_path)
    admin.autodiscover()
    content_models = [model for model in site._registry
                      if model._meta.app_label in ("messaging", "filestore")]
    assert content_models
    try:
        for model in content_models:
            opts = model._meta
            base = f"/admin/{opts.app_label}/{opts.model_name}/"
            obj = model.objects.first()
            assert obj is not None, f"no {opts.label} seeded"
            assert client.get(base + "add/").status_code == 403
            assert client.get(f"{base}{obj.pk}/delete/").status_code == 403
            change = client.get(f"{base}{obj.pk}/change/")
            assert change.status_code == 200
            assert 'name="_save"' not in change.text  # view only
            assert client.get(base).status_code == 200  # positive control
    finally:
        client.close()
