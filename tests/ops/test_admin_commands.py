"""The operator's account commands (docs/operations.md, "First administrator" and
"User management"):

- ``createadmin EMAIL``: a staff invitation; works in every registration mode; the
  signup through its link (the shared test signup helper, or the API) verifies the
  address; staff and superuser only once the authenticator is confirmed; the
  operator never sees a password.
- ``users list|promote|demote|deactivate|reactivate|reset-2fa|end-sessions``,
  ``invitations list|revoke``: help texts, refusals (clear error, non-zero exit,
  nothing changed), JSON output, dry runs without ``--yes``.
- ``createsuperuser`` is refused, pointing at ``createadmin``.
- The same through ``deploy/securechat-manage``.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from accounts.models import (
    AuditEvent,
    BackupCodeDevice,
    ForgivingTOTPDevice,
    Invitation,
    LoginSession,
    User,
)
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits  # noqa: F401
from tests.support.accounts import (
    PASSWORD,
    http_login,
    http_signup,
    login_admin,
    login_client,
    make_user,
    post_json,
)
from tests.support.live import REPO_ROOT, database_env

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

ORIGIN = "https://chat.example.test"
LINK_RE = re.compile(r"https?://\S+/signup/\?\S+")
MODES = ["open", "invite", "closed"]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def token_of(output: str) -> str:
    (link,) = LINK_RE.findall(output)
    return parse_qs(urlsplit(link).query)["invitation"][0]


def manage(*args: str, **env) -> subprocess.CompletedProcess:
    """``manage.py`` in its own process on the test database, as an operator runs it."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **database_env(), **env}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def snapshot():
    """Everything the commands could change."""
    return (
        sorted(User.objects.values_list("pk", "email", "is_active", "is_staff",
                                        "is_superuser", "admin_on_2fa")),
        sorted(LoginSession.objects.values_list("pk", "ended_at")),
        sorted(Invitation.objects.values_list("pk", "used_at", "revoked_at")),
        BackupCodeDevice.objects.count(),
        AuditEvent.objects.count(),
        len(mail.outbox),
    )


def admin_user(email="root@example.com"):
    """An administrator made the supported way: createadmin, signup, authenticator."""
    with override_settings(SECURECHAT_REGISTRATION="invite"):
        admin = make_user(email, invitation=token_of(run("createadmin", email)))
    enrol_totp(admin.user)
    admin.user.refresh_from_db()
    assert admin.user.is_superuser
    return admin


# --- createadmin ----------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_createadmin_works_in_every_registration_mode(mode):
    with override_settings(SECURECHAT_REGISTRATION=mode, SECURECHAT_ORIGINS=[ORIGIN]):
        output = run("createadmin", " First.Admin@Example.COM ", "--days", "2")
        assert f"{ORIGIN}/signup/?" in output
        assert "first.admin@example.com" in output  # normalised as everywhere
        assert User.objects.count() == 0  # no account, no password: only a link
        (invitation,) = Invitation.objects.all()
        assert invitation.staff and invitation.state == "pending"
        assert AuditEvent.objects.filter(kind="admin_invited").count() == 1

        admin = make_user("first.admin@example.com", invitation=token_of(output))

    user = User.objects.get(pk=admin.user.pk)
    assert user.email_verified  # the link reached the address
    assert not user.is_staff and not user.is_superuser  # not before the second factor
    assert user.admin_on_2fa
    invitation.refresh_from_db()
    assert invitation.state == "used"

    enrol_totp(user)
    user.refresh_from_db()
    assert user.is_staff and user.is_superuser and not user.admin_on_2fa
    assert AuditEvent.objects.filter(kind="promoted", user=user).count() == 1


@pytest.mark.parametrize("mode", MODES)
def test_createadmin_signup_over_the_api_then_admin_login(mode):
    """The API signup path (client-made keys) in each mode; then the new administrator
    reaches the admin through the site's login with the auth key and a code."""
    with override_settings(SECURECHAT_REGISTRATION=mode):
        token = token_of(run("createadmin", "api-admin@example.com"))
        response = http_signup(Client(), "api-admin@example.com", invitation=token)
    assert response.status_code == 201, response.content
    user = User.objects.get(email="api-admin@example.com")
    assert user.email_verified and not user.is_staff
    device, _ = enrol_totp(user)
    client = Client()
    assert http_login(client, user.email, PASSWORD).json()["otp_required"]
    assert post_json(client, "/api/v1/auth/otp", {"code": fresh_code(device)}).status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200


def test_the_printed_link_works_while_registration_is_closed():
    """What the operator does on day one: open the printed link (its invitation and
    address are what the browser's or the CLI's signup sends)."""
    from tests.ops.test_invite import sign_up_from_link

    with override_settings(SECURECHAT_REGISTRATION="closed"):
        (link,) = LINK_RE.findall(run("createadmin", "browser-admin@example.com"))
        response = sign_up_from_link(Client(), link)
    assert response.status_code == 201, response.content
    user = User.objects.get(email="browser-admin@example.com")
    assert user.email_verified and user.admin_on_2fa and not user.is_staff


def test_an_ordinary_invitation_does_not_open_closed_registration():
    """Positive control of the closed-mode test: only a staff invitation works there."""
    with override_settings(SECURECHAT_REGISTRATION="invite"):
        token = token_of(run("invite", "plain@example.com"))
    with override_settings(SECURECHAT_REGISTRATION="closed"):
        response = http_signup(Client(), "plain@example.com", invitation=token)
    assert response.status_code == 403
    assert User.objects.count() == 0


def test_a_staff_invitation_replaces_an_unverified_holder_of_the_address():
    """Someone registered the address after the invitation was made but never verified
    it: the invitation link proves the mailbox, so its signup takes the address."""
    with override_settings(SECURECHAT_REGISTRATION="open"):
        token = token_of(run("createadmin", "contested@example.com"))
        squatter = make_user("contested@example.com", verified=False)
        admin = make_user("contested@example.com", invitation=token)
    assert not User.objects.filter(pk=squatter.user.pk).exists()
    assert admin.user.email_verified and admin.user.admin_on_2fa


@pytest.mark.parametrize("mode", MODES)
def test_createadmin_with_the_version_2_client_signup(mode):
    """The end-to-end signup (client-made keys) through the same link, in every mode, also
    over an unverified registration of the address made after the invitation."""
    from tests.accounts.test_client_keys import Device

    with override_settings(SECURECHAT_REGISTRATION=mode):
        token = token_of(run("createadmin", "v2-admin@example.com"))
        if mode == "open":
            squatter = make_user("v2-admin@example.com", verified=False)
        response = Device("v2-admin@example.com").signup(invitation=token)
    assert response.status_code == 201, response.content
    user = User.objects.get(email="v2-admin@example.com")
    assert user.email_verified and user.admin_on_2fa and not user.is_staff
    if mode == "open":
        assert user.pk != squatter.user.pk
    enrol_totp(user)
    user.refresh_from_db()
    assert user.is_staff and user.is_superuser


def test_promotion_waits_for_a_confirmed_authenticator():
    """Starting an enrolment is not enough; a demotion before it cancels the promotion."""
    from accounts import actions

    with override_settings(SECURECHAT_REGISTRATION="invite"):
        admin = make_user("later@example.com",
                          invitation=token_of(run("createadmin", "later@example.com")))
    actions.do_start_totp(admin.user)
    admin.user.refresh_from_db()
    assert not admin.user.is_staff
    run("users", "demote", "later@example.com")
    enrol_totp(admin.user)
    admin.user.refresh_from_db()
    assert not admin.user.is_staff and not admin.user.is_superuser


def test_createadmin_send_mails_the_link_too():
    output = run("createadmin", "mailed-admin@example.com", "--send")
    (message,) = mail.outbox
    assert message.to == ["mailed-admin@example.com"]
    assert token_of(message.body) == token_of(output)
    assert "emailed to mailed-admin@example.com" in output


@pytest.mark.parametrize(("args", "message"), [
    (["not-an-address"], "Enter a valid email address."),
    (["ok@example.com", "--days", "0"], "valid for 1 to 365 days"),
    (["taken@example.com"], "users promote"),
    (["TAKEN@example.com"], "already exists"),
])
def test_createadmin_refusals_create_nothing(args, message):
    make_user("taken@example.com")
    before = snapshot()
    with pytest.raises(CommandError, match=re.escape(message)):
        run("createadmin", *args)
    assert snapshot() == before


# --- createsuperuser --------------------------------------------------------------------

def test_createsuperuser_is_refused_pointing_at_createadmin():
    with pytest.raises(CommandError, match="createadmin"):
        run("createsuperuser", "--noinput", "--email", "x@example.com")
    assert User.objects.count() == 0


# --- users ----------------------------------------------------------------------------

@pytest.fixture
def people():
    """An administrator (with 2FA), alice (2FA, a login open), bob (no 2FA)."""
    root = admin_user()
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    enrol_totp(alice.user)
    login_client(alice)
    return {"root": root, "alice": alice, "bob": bob}


def test_users_list_text_and_json(people):
    rows = json.loads(run("users", "list", "--json"))
    by_email = {row["email"]: row for row in rows}
    assert set(by_email) == {"root@example.com", "alice@example.com", "bob@example.com"}
    assert by_email["root@example.com"]["superuser"] and by_email["root@example.com"]["staff"]
    assert by_email["alice@example.com"]["two_factor"] is True
    assert by_email["alice@example.com"]["open_sessions"] == 1
    assert by_email["bob@example.com"]["two_factor"] is False
    assert not by_email["bob@example.com"]["staff"]
    assert set(rows[0]) == {"id", "email", "active", "verified", "two_factor", "staff",
                            "superuser", "admin_on_2fa", "open_sessions", "date_joined",
                            "last_login"}
    text = run("users", "list")
    assert "3 account(s)." in text
    assert re.search(r"root@example\.com .*admin", text)
    assert "argon2" not in text.lower() and people["alice"].recovery_code not in text


def test_promote_with_and_without_an_authenticator(people):
    output = run("users", "promote", " ALICE@example.com")
    assert "is now an administrator" in output
    alice = User.objects.get(email="alice@example.com")
    assert alice.is_staff and alice.is_superuser
    with pytest.raises(CommandError, match="already an administrator"):
        run("users", "promote", "alice@example.com")

    output = run("users", "promote", "bob@example.com")
    assert "when they confirm one" in output
    bob = User.objects.get(email="bob@example.com")
    assert not bob.is_staff and bob.admin_on_2fa
    enrol_totp(bob)
    bob.refresh_from_db()
    assert bob.is_staff and bob.is_superuser


def test_demote_and_the_last_administrator(people):
    before = snapshot()
    with pytest.raises(CommandError, match="only active administrator"):
        run("users", "demote", "root@example.com")
    with pytest.raises(CommandError, match="only active administrator"):
        run("users", "deactivate", "root@example.com", "--yes")
    with pytest.raises(CommandError, match="not an administrator"):
        run("users", "demote", "bob@example.com")
    assert snapshot() == before

    run("users", "promote", "alice@example.com")
    assert "no longer an administrator" in run("users", "demote", "root@example.com")
    root = User.objects.get(email="root@example.com")
    assert not root.is_staff and not root.is_superuser
    assert AuditEvent.objects.filter(kind="demoted", user=root).count() == 1


def test_deactivate_dry_run_then_yes_then_reactivate(people):
    before = snapshot()
    output = run("users", "deactivate", "alice@example.com")
    assert "Would deactivate alice@example.com and end 1 open session(s)" in output
    assert "--yes" in output
    assert snapshot() == before

    assert "Deactivated alice@example.com; ended 1 session(s)." in run(
        "users", "deactivate", "alice@example.com", "--yes")
    alice = User.objects.get(email="alice@example.com")
    assert not alice.is_active
    assert not LoginSession.objects.filter(user=alice, ended_at__isnull=True).exists()
    with pytest.raises(CommandError, match="already deactivated"):
        run("users", "deactivate", "alice@example.com", "--yes")
    with pytest.raises(CommandError, match="already an administrator|deactivated"):
        run("users", "promote", "alice@example.com")

    assert "active again" in run("users", "reactivate", "alice@example.com")
    assert User.objects.get(email="alice@example.com").is_active
    with pytest.raises(CommandError, match="is active"):
        run("users", "reactivate", "alice@example.com")


def test_reset_2fa_dry_run_then_yes(people):
    alice = people["alice"].user
    before = snapshot()
    output = run("users", "reset-2fa", "alice@example.com")
    assert "Would remove 2 second-factor device(s) of alice@example.com" in output
    assert snapshot() == before

    output = run("users", "reset-2fa", "alice@example.com", "--yes")
    assert "Removed 2 second-factor device(s)" in output
    assert json.loads(run("users", "list", "--json"))[0]["email"] == "alice@example.com"
    assert not BackupCodeDevice.objects.filter(user=alice).exists()
    assert AuditEvent.objects.filter(kind="devices_reset", user=alice).count() == 1
    assert [m.to for m in mail.outbox][-1] == ["alice@example.com"]  # the user is told
    with pytest.raises(CommandError, match="no second factor"):
        run("users", "reset-2fa", "alice@example.com", "--yes")


def test_end_sessions_dry_run_then_yes(people):
    alice = people["alice"].user
    before = snapshot()
    assert "Would end 1 open session(s) of alice@example.com" in run(
        "users", "end-sessions", "alice@example.com")
    assert snapshot() == before
    assert "Ended 1 session(s) of alice@example.com." in run(
        "users", "end-sessions", "alice@example.com", "--yes")
    assert not LoginSession.objects.filter(user=alice, ended_at__isnull=True).exists()
    assert AuditEvent.objects.filter(kind="sessions_ended_by_admin", user=alice).count() == 1


@pytest.mark.parametrize("action", ["promote", "demote", "deactivate", "reactivate",
                                    "reset-2fa", "end-sessions"])
def test_an_unknown_address_is_a_clear_error_and_changes_nothing(people, action):
    before = snapshot()
    extra = ["--yes"] if action in ("deactivate", "reset-2fa", "end-sessions") else []
    with pytest.raises(CommandError, match=r"No account has the address nobody@example\.com"):
        run("users", action, "Nobody@Example.com", *extra)
    with pytest.raises(CommandError, match="valid email address"):
        run("users", action, "not-an-address", *extra)
    assert snapshot() == before


def test_bad_usage_is_refused():
    for args in (["users"], ["users", "frobnicate"], ["users", "promote"],
                 ["users", "list", "extra"], ["invitations"], ["invitations", "revoke"],
                 ["users", "promote", "a@example.com", "--yes"]):
        with pytest.raises(CommandError):
            run(*args)


# --- invitations ----------------------------------------------------------------------

def test_invitations_list_and_revoke():
    with override_settings(SECURECHAT_REGISTRATION="invite"):
        token = token_of(run("invite", "guest@example.com"))
        run("createadmin", "boss@example.com")
        used = token_of(run("invite", "used@example.com"))
        make_user("used@example.com", invitation=used)

    rows = json.loads(run("invitations", "list", "--json"))
    assert [(r["email"], r["staff"], r["state"]) for r in rows] == [
        ("boss@example.com", True, "pending"), ("guest@example.com", False, "pending")]
    assert token not in json.dumps(rows)  # no token anywhere (only its hash is stored)
    assert len(json.loads(run("invitations", "list", "--json", "--all"))) == 3
    text = run("invitations", "list")
    assert "guest@example.com  user  pending" in text and "2 invitation(s)." in text

    guest_id = next(r["id"] for r in rows if r["email"] == "guest@example.com")
    before = snapshot()
    output = run("invitations", "revoke", str(guest_id))
    assert f"Would revoke invitation {guest_id} for guest@example.com" in output
    assert snapshot() == before

    assert "Revoked invitation" in run("invitations", "revoke", str(guest_id), "--yes")
    assert Invitation.objects.get(pk=guest_id).state == "revoked"
    assert AuditEvent.objects.filter(kind="invitation_revoked").count() == 1
    with override_settings(SECURECHAT_REGISTRATION="invite"):
        response = http_signup(Client(), "guest@example.com", invitation=token)
    assert response.status_code == 403  # the link no longer works

    used_id = Invitation.objects.get(email="used@example.com").pk
    before = snapshot()
    for bad, message in [(str(guest_id), "is revoked"), (str(used_id), "is used"),
                         ("99999", "no invitation 99999"), ("x", "not an invitation number")]:
        with pytest.raises(CommandError, match=message):
            run("invitations", "revoke", bad, "--yes")
    assert snapshot() == before


def test_the_admin_lists_invitations_read_only_and_revokes():
    root = admin_user()
    device = ForgivingTOTPDevice.objects.get(user=root.user, confirmed=True)
    client = login_admin(root, device)
    with override_settings(SECURECHAT_REGISTRATION="invite"):
        token = token_of(run("invite", "guest@example.com"))
    invitation = Invitation.objects.get(email="guest@example.com")
    listing = client.get("/admin/accounts/invitation/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "guest@example.com" in html and token not in html
    assert invitation.token_hash not in html
    assert client.get("/admin/accounts/invitation/add/").status_code == 403
    change = client.post(f"/admin/accounts/invitation/{invitation.pk}/change/",
                         {"email": "other@example.com"})
    assert change.status_code == 403 or Invitation.objects.get(
        pk=invitation.pk).email == "guest@example.com"
    response = client.post("/admin/accounts/invitation/", {
        "action": "revoke", "_selected_action": [str(invitation.pk)]})
    assert response.status_code == 302
    assert Invitation.objects.get(pk=invitation.pk).state == "revoked"


# --- as an operator runs them: exit codes, help, the wrapper -------------------------

def test_exit_codes_help_and_json_from_manage_py():
    make_user("cli@example.com")
    listing = manage("users", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    assert [row["email"] for row in json.loads(listing.stdout)] == ["cli@example.com"]

    for args, message in [
        (["users", "deactivate", "ghost@example.com", "--yes"],
         "No account has the address ghost@example.com"),
        (["users", "promote", "not-an-address"], "valid email address"),
        (["invitations", "revoke", "424242"], "no invitation 424242"),
        (["createsuperuser", "--noinput", "--email", "x@example.com"], "createadmin EMAIL"),
    ]:
        done = manage(*args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "CommandError" in done.stderr and message in done.stderr, done.stderr
    assert User.objects.count() == 1 and User.objects.get().is_active

    expected = {
        ("createadmin",): ["every registration mode", "--send", "--days",
                           "authenticator app", "users promote"],
        ("users",): ["list", "promote", "demote", "deactivate", "reactivate", "reset-2fa",
                     "end-sessions", "dry runs unless --yes"],
        ("users", "deactivate"): ["--yes", "dry run unless --yes"],
        ("users", "list"): ["--json"],
        ("invitations",): ["list", "revoke", "dry run unless --yes"],
        ("invitations", "list"): ["--json", "--all"],
        ("createsuperuser",): ["createadmin"],
    }
    for args, phrases in expected.items():
        done = manage(*args, "--help")
        assert done.returncode == 0, done.stderr
        text = " ".join(done.stdout.split())
        for phrase in phrases:
            assert phrase in text, (args, phrase)


def test_the_securechat_manage_wrapper_runs_the_commands(tmp_path):
    """``deploy/securechat-manage`` reads the env file and runs manage.py in the app dir."""
    env_file = tmp_path / "securechat.env"
    lines = {"DJANGO_SETTINGS_MODULE": "tests.settings", "SECURECHAT_REGISTRATION": "closed",
             "SECURECHAT_ORIGINS": ORIGIN, **database_env()}
    env_file.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "SECURECHAT_ENV_FILE": str(env_file), "SECURECHAT_APP_DIR": str(REPO_ROOT),
           "SECURECHAT_USER": "no-such-service-user-here"}
    if not (REPO_ROOT / ".venv" / "bin" / "python").exists():
        pytest.fail("the wrapper runs APP_DIR/.venv/bin/python, which this checkout lacks")
    wrapper = str(REPO_ROOT / "deploy" / "securechat-manage")
    done = subprocess.run(["sh", wrapper, "createadmin", "wrapped@example.com"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{ORIGIN}/signup/?" in done.stdout
    assert Invitation.objects.get(email="wrapped@example.com").staff
    listing = subprocess.run(["sh", wrapper, "invitations", "list", "--json"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout)[0]["email"] == "wrapped@example.com"
    refused = subprocess.run(["sh", wrapper, "users", "demote", "ghost@example.com"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "No account has the address" in refused.stderr
