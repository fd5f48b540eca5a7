"""The ``securechat`` CLI against a live server (another process, Django blocked).

signup → whoami → fingerprint → logout → login, export-identity opened by pyrage,
and a lying server refused: a work factor out of range (8, 21, or below the
production floor when the client runs without the test floor), a changed salt
or a lowered work factor for a known account, a wrapped identity of another shape
(refused before its scrypt runs), and a directory generation the user never made.
"""

from __future__ import annotations

import json
import os
import subprocess

import httpx
import pyrage
import pytest
from django.conf import settings
from django.utils import timezone

import agecrypt
from accounts.models import ClientAuth, KeyGeneration, User, WrappedIdentity
from client.identity import IdentityFile
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.client.cli_support import assert_one_error_line

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

EMAIL = "alice@example.org"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def server(start_shared_server):
    """One uvicorn for the module's tests (rows and files are emptied after each)."""
    return start_shared_server("uvicorn")


@pytest.fixture
def own_server(start_server):
    """A uvicorn of the test's own, for a test that restarts it or reads its whole log."""
    return start_server("uvicorn")


@pytest.fixture
def scrypt_log(tmp_path, monkeypatch):
    """A file the CLI's boot code appends one line to per age scrypt unwrap it runs."""
    path = tmp_path / "scrypt.log"
    path.write_text("")
    monkeypatch.setattr(cli_support, "BOOT", cli_support.BLOCK_DJANGO + f"""
import agecrypt.scrypt as _s
_real = _s._derive
def _logged(passphrase, salt, work_factor):
    with open({str(path)!r}, "a") as log:
        log.write(f"{{work_factor}}\\n")
    return _real(passphrase, salt, work_factor)
_s._derive = _logged
from client.cli import main
sys.exit(main(sys.argv[2:], _min_work_factor=int(sys.argv[1])))
""")
    return path


def cli(home, server, *args, stdin=PASSWORD + "\n", **kw):
    return cli_support.run_cli(home, "--server", server.url, "--password-stdin", *args,
                               stdin=stdin, **kw)


def signup(home, server, email=EMAIL):
    result = cli(home, server, "signup", "--email", email,
                 "--key-type", settings.SECURECHAT_KEY_TYPE)
    assert result.returncode == 0, result
    return result


def test_signup_whoami_fingerprint_logout_login(server, tmp_path):
    home = tmp_path / "alice"
    result = signup(home, server)
    code = result.stdout.splitlines()[1].strip()
    assert len(code.replace("-", "")) == 26 and code not in result.stderr
    user = User.objects.get(email=EMAIL)
    generation = KeyGeneration.objects.get(user=user)
    # The server got public and wrapped data only; the password-wrapped copy is one
    # scrypt stanza (work factor 10) the CLI made.
    blob = bytes(WrappedIdentity.objects.get(user=user).password_blob)
    assert b"-> scrypt " in blob and PASSWORD.encode() not in blob
    config = home / ".config" / "securechat"
    for name in ("session.json", "accounts.json", "config.json"):
        assert (config / name).stat().st_mode & 0o777 == 0o600, name
    assert config.stat().st_mode & 0o777 == 0o700

    whoami = cli_support.run_cli(home, "whoami")  # the server remembered from signup
    assert whoami.returncode == 0 and whoami.stdout.startswith(f"{EMAIL} on {server.url}")

    fingerprint = cli(home, server, "fingerprint")
    assert fingerprint.returncode == 0, fingerprint
    assert generation.recipient in fingerprint.stdout

    jar = json.loads((config / "session.json").read_text())[server.url]
    old_cookies = {name: value for name, value, _, _ in jar}
    assert httpx.get(server.url + "/api/v1/me/device-key", cookies=old_cookies).status_code == 200
    assert cli_support.run_cli(home, "logout").returncode == 0
    after = cli_support.run_cli(home, "--server", server.url, "whoami")
    assert_one_error_line(after, "[not_logged_in]")
    # The session ended on the server too, not only in the CLI's file.
    assert httpx.get(server.url + "/api/v1/me/device-key", cookies=old_cookies).status_code == 401

    other_machine = tmp_path / "alice-laptop"
    login = cli(other_machine, server, "login", "--email", EMAIL)
    assert login.returncode == 0, login
    assert "key generation 1, checked" in login.stdout
    assert cli_support.run_cli(other_machine, "whoami").returncode == 0


def test_login_with_a_second_factor_reads_the_code_after_the_password(server, tmp_path):
    signup(tmp_path / "a", server)
    User.objects.filter(email=EMAIL).update(email_verified_at=timezone.now())  # 2FA needs it
    device, backup_codes = enrol_totp(User.objects.get(email=EMAIL))
    result = cli(tmp_path / "b", server, "login", "--email", EMAIL,
                 stdin=f"{PASSWORD}\n{fresh_code(device)}\n")
    assert result.returncode == 0, result
    assert cli_support.run_cli(tmp_path / "b", "whoami").returncode == 0
    wrong = cli(tmp_path / "c", server, "login", "--email", EMAIL, stdin=f"{PASSWORD}\n000000\n")
    assert_one_error_line(wrong, "[invalid_code]")
    missing = cli(tmp_path / "d", server, "login", "--email", EMAIL)
    assert_one_error_line(missing, "standard input ended before the second-factor code")
    backup = cli(tmp_path / "e", server, "login", "--email", EMAIL,
                 stdin=f"{PASSWORD}\n{backup_codes[0]}\n")
    assert backup.returncode == 0, backup


def test_a_wrong_password_is_one_line(server, tmp_path):
    signup(tmp_path / "a", server)
    result = cli(tmp_path / "b", server, "login", "--email", EMAIL,
                 stdin="not the password at all\n")
    assert_one_error_line(result, "[invalid_credentials]")


def test_export_identity_opens_with_the_password(server, tmp_path):
    home = tmp_path / "alice"
    signup(home, server)
    out = tmp_path / "export.age"
    result = cli(home, server, "export-identity", "--output", str(out))
    assert result.returncode == 0, result
    assert out.stat().st_mode & 0o777 == 0o600
    data = out.read_bytes()
    assert b"-> scrypt " in data and data.split(b"\n")[1].endswith(b" 18")
    identity = IdentityFile.parse(pyrage.passphrase.decrypt(data, PASSWORD))
    assert identity.recipient() == KeyGeneration.objects.get(user__email=EMAIL).recipient
    # The age identity lines open a file sent to the account's recipient.
    sealed = agecrypt.encrypt(b"hello", [agecrypt.parse_recipient(identity.recipient())])
    lines = pyrage.passphrase.decrypt(data, PASSWORD).decode()
    assert agecrypt.decrypt(sealed, agecrypt.parse_identities(lines)) == b"hello"
    again = cli(home, server, "export-identity", "--output", str(out))
    assert_one_error_line(again, "exists")


def test_an_x25519_export_decrypts_with_the_age_cli(start_server, tmp_path):
    """On an X25519 deployment the exported identity is what `age -d -i` takes (age 1.1
    has no hybrid keys; the hybrid export is checked with agecrypt above)."""
    server = start_server("uvicorn", SECURECHAT_KEY_TYPE="x25519")
    home = tmp_path / "alice"
    result = cli(home, server, "signup", "--email", EMAIL, "--key-type", "x25519")
    assert result.returncode == 0, result
    out = tmp_path / "export.age"
    assert cli(home, server, "export-identity", "--output", str(out)).returncode == 0
    identity_file = tmp_path / "identity.txt"
    identity_file.write_bytes(pyrage.passphrase.decrypt(out.read_bytes(), PASSWORD))
    recipient = KeyGeneration.objects.get(user__email=EMAIL).recipient
    sealed = subprocess.run(["age", "-r", recipient], input=b"for alice only",
                            capture_output=True, check=True).stdout
    opened = subprocess.run(["age", "-d", "-i", str(identity_file)], input=sealed,
                            capture_output=True, check=True).stdout
    assert opened == b"for alice only"


def test_stored_identity_under_a_local_passphrase(server, tmp_path):
    home = tmp_path / "alice"
    phrase = tmp_path / "phrase"
    phrase.write_text("a local passphrase\n")
    phrase.chmod(0o600)
    signup(home, server)
    result = cli(home, server, "--passphrase-file", str(phrase), "login", "--email", EMAIL,
                 "--store-identity")
    assert result.returncode == 0, result
    stored = list((home / ".config" / "securechat").glob("identity-*.age"))
    assert len(stored) == 1 and stored[0].stat().st_mode & 0o777 == 0o600
    # fingerprint now needs the passphrase file, not the password (stdin is empty).
    fp = cli(home, server, "--passphrase-file", str(phrase), "fingerprint", stdin="")
    assert fp.returncode == 0, fp
    # A new login replaces the session, and with it the identity stored for the old one.
    assert cli(home, server, "login", "--email", EMAIL).returncode == 0
    assert not list((home / ".config" / "securechat").glob("identity-*.age"))
    assert cli(home, server, "--passphrase-file", str(phrase), "login", "--email", EMAIL,
               "--store-identity").returncode == 0
    assert cli_support.run_cli(home, "logout").returncode == 0
    assert not list((home / ".config" / "securechat").glob("identity-*.age"))


# --- a lying server -------------------------------------------------------------------


@pytest.mark.parametrize("work_factor", [8, 21])
def test_a_work_factor_out_of_range_is_refused_before_login(start_server, tmp_path,
                                                            work_factor):
    server = start_server("uvicorn")
    signup(tmp_path / "a", server)
    ClientAuth.objects.filter(user__email=EMAIL).update(work_factor=work_factor)
    liar = start_server("uvicorn", SECURECHAT_CLIENT_WORK_FACTOR=str(work_factor)) \
        if work_factor < 10 else server
    result = cli(tmp_path / "b", liar, "login", "--email", EMAIL)
    assert_one_error_line(result, "work factor must be in [10, 20]", "[bad_work_factor]")
    assert "POST /api/v1/auth/login" not in liar.log()


def test_the_production_floor_refuses_the_test_servers_work_factor(server, tmp_path):
    """Without the test-only floor (the installed script's 16) a work factor of 10 is refused."""
    result = cli(tmp_path / "a", server, "signup", "--email", EMAIL, floor=16)
    assert_one_error_line(result, "work factor must be in [16, 20]")
    assert not User.objects.filter(email=EMAIL).exists()


def test_a_changed_salt_for_a_known_account_is_refused(own_server, tmp_path, scrypt_log):
    server = own_server  # the log below must hold this test's requests only
    home = tmp_path / "alice"
    signup(home, server)
    ClientAuth.objects.filter(user__email=EMAIL).update(account_salt=os.urandom(16))
    result = cli(home, server, "login", "--email", EMAIL)
    assert_one_error_line(result, "changed this account's salt", "[params_changed]")
    assert "POST /api/v1/auth/login" not in server.log()


def test_a_lowered_work_factor_for_a_known_account_is_refused(server, tmp_path):
    home = tmp_path / "alice"
    signup(home, server)
    # This client had raised the account to 12 earlier (as after an upgrade at login).
    path = home / ".config" / "securechat" / "accounts.json"
    known = json.loads(path.read_text())
    (entry,) = known.values()
    entry["work_factor"] = 12
    path.write_text(json.dumps(known))
    result = cli(home, server, "login", "--email", EMAIL)
    assert_one_error_line(result, "lowered this account's work factor from 12 to 10")


def test_a_wrapped_identity_with_a_second_stanza_is_refused_before_scrypt(server, tmp_path,
                                                                           scrypt_log):
    signup(tmp_path / "a", server)
    scrypt_log.write_text("")  # signup wrapped the identity (one scrypt at 10)
    ok = cli(tmp_path / "b", server, "login", "--email", EMAIL)
    assert ok.returncode == 0 and scrypt_log.read_text() == "10\n"  # positive control
    row = WrappedIdentity.objects.get(user__email=EMAIL)
    header, sep, rest = bytes(row.password_blob).partition(b"\n---")
    lines = header.split(b"\n")  # version line, "-> scrypt salt 10", body line(s)
    row.password_blob = b"\n".join(lines + lines[1:]) + sep + rest  # the stanza twice
    row.save()
    scrypt_log.write_text("")
    result = cli(tmp_path / "c", server, "login", "--email", EMAIL)
    assert_one_error_line(result, "[bad_wrapped_identity]")
    assert scrypt_log.read_text() == ""


def test_a_wrapped_identity_of_another_work_factor_is_refused_before_scrypt(server, tmp_path,
                                                                             scrypt_log):
    signup(tmp_path / "a", server)
    row = WrappedIdentity.objects.get(user__email=EMAIL)
    other = agecrypt.encrypt(b"anything", [agecrypt.ScryptRecipient("x", work_factor=12)])
    row.password_blob = other
    row.save()
    scrypt_log.write_text("")  # signup wrapped the identity (one scrypt at 10)
    result = cli(tmp_path / "b", server, "login", "--email", EMAIL)
    assert_one_error_line(result, "exactly 10", "[bad_wrapped_identity]")
    assert scrypt_log.read_text() == ""


def test_a_generation_the_user_never_made_is_refused_at_login(server, tmp_path):
    signup(tmp_path / "a", server)
    user = User.objects.get(email=EMAIL)
    KeyGeneration.objects.filter(user=user).update(retired_at=timezone.now())
    planted = agecrypt.X25519Identity.from_seed(os.urandom(32)).recipient()
    KeyGeneration.objects.create(user=user, number=2, key_type="x25519",
                                 recipient=str(planted), signing_public_key=os.urandom(32))
    result = cli(tmp_path / "b", server, "login", "--email", EMAIL)
    assert_one_error_line(result, "key generation 2, which this identity never made",
                          "[directory_mismatch]")


def test_signup_with_an_invitation_token_from_createadmin(server, tmp_path):
    """The token of a `createadmin` link (its ?invitation= value) goes with the client-made
    keys: the address counts as verified by it, and the account becomes an administrator
    once its second factor is confirmed; without the token a signup is an ordinary one."""
    from accounts.actions import do_invite

    token = do_invite("root@example.com", staff=True)
    result = cli(tmp_path / "root", server, "signup", "--email", "root@example.com",
                 "--key-type", settings.SECURECHAT_KEY_TYPE, "--invitation", token)
    assert result.returncode == 0, result
    user = User.objects.get(email="root@example.com")
    assert user.admin_on_2fa and user.email_verified_at is not None
    signup(tmp_path / "plain", server, "plain@example.com")
    plain = User.objects.get(email="plain@example.com")
    assert not plain.admin_on_2fa and plain.email_verified_at is None
