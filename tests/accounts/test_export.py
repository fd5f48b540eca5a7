"""Identity export (DESIGN.md §3, §4, §11): after a step-up the user downloads the
password-wrapped age file itself. Implementations nobody here wrote open it: pyrage
decrypts it with the password, and the identity file inside decrypts a file
encrypted to the user with npm ``age-encryption`` (hybrid keys) or the ``age`` CLI
(X25519 keys).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pyrage
import pytest
from django.core import mail
from django.test import Client, override_settings

import agecrypt
from accounts.identity import parse_recipient
from accounts.models import AuditEvent, KeyGeneration, WrappedIdentity
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits, post_json  # noqa: F401
from tests.support.accounts import PASSWORD, login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]

ROOT = Path(__file__).resolve().parents[2]
DECRYPT_JS = ROOT / "tests" / "agecrypt" / "js" / "decrypt.mjs"
SECRET = b"only alice may read this \xf0\x9f\x94\x91"


def export(client, **body):
    return post_json(client, "/api/v1/me/identity/export", {"password": PASSWORD, **body})


def encrypted_to(user) -> bytes:
    current = KeyGeneration.objects.current_for(user)
    return agecrypt.encrypt(SECRET, [parse_recipient(current.recipient)])


def exported_identity_file(response, tmp_path: Path) -> Path:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="securechat-identity.age"'
    blob = response.content
    assert blob.startswith(b"age-encryption.org/v1\n-> scrypt ")
    identity_text = pyrage.passphrase.decrypt(blob, PASSWORD)
    path = tmp_path / "identity.txt"
    path.write_bytes(identity_text)
    return path


def node_decrypt(identity_path: Path, ciphertext: bytes) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    assert node, "node is required for the npm age-encryption interop test"
    assert (ROOT / "node_modules" / "age-encryption").is_dir(), "run `npm ci` (make does)"
    return subprocess.run([node, str(DECRYPT_JS), str(identity_path)], input=ciphertext,
                          capture_output=True, cwd=ROOT, timeout=60)


def age_decrypt(identity_path: Path, ciphertext: bytes) -> subprocess.CompletedProcess:
    age = shutil.which("age")
    assert age, "the age CLI (Debian package age) is required"
    return subprocess.run([age, "-d", "-i", str(identity_path)], input=ciphertext,
                          capture_output=True, timeout=60)


def test_hybrid_export_opens_with_pyrage_and_decrypts_with_npm_age_encryption(tmp_path):
    alice = make_user()
    ciphertext = encrypted_to(alice.user)
    response = export(login_client(alice))
    identity_path = exported_identity_file(response, tmp_path)
    assert b"AGE-SECRET-KEY-PQ-1" in identity_path.read_bytes()

    result = node_decrypt(identity_path, ciphertext)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == SECRET

    # Negative control: someone else's exported identity does not decrypt it.
    bob = make_user()
    (tmp_path / "bob").mkdir()
    bob_path = exported_identity_file(export(login_client(bob)), tmp_path / "bob")
    other = node_decrypt(bob_path, ciphertext)
    assert other.returncode != 0 and other.stdout != SECRET


@override_settings(SECURECHAT_KEY_TYPE="x25519")
def test_x25519_export_opens_with_pyrage_and_decrypts_with_the_age_cli(tmp_path):
    alice = make_user()
    assert KeyGeneration.objects.current_for(alice.user).key_type == "x25519"
    ciphertext = encrypted_to(alice.user)
    identity_path = exported_identity_file(export(login_client(alice)), tmp_path)
    assert b"AGE-SECRET-KEY-1" in identity_path.read_bytes()

    result = age_decrypt(identity_path, ciphertext)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == SECRET

    bob = make_user()
    other_dir = tmp_path / "bob"
    other_dir.mkdir()
    bob_path = exported_identity_file(export(login_client(bob)), other_dir)
    assert age_decrypt(bob_path, ciphertext).returncode != 0


def test_export_is_audited_and_announced_without_secrets():
    alice = make_user()
    response = export(login_client(alice))
    assert response.status_code == 200
    assert AuditEvent.objects.filter(user=alice.user, kind="identity_exported").count() == 1
    (message,) = mail.outbox
    assert message.to == [alice.email] and "exported" in message.subject
    assert PASSWORD not in message.body and alice.recovery_code not in message.body
    assert b"age-encryption" not in message.body.encode()


@pytest.mark.parametrize("body,status,error", [
    ({"password": "not the password 123"}, 403, "wrong_password"),
    ({"password": None}, 403, "wrong_password"),
    ({"password": ["a list"]}, 403, "wrong_password"),
])
def test_wrong_step_up_exports_nothing(body, status, error):
    alice = make_user()
    response = post_json(login_client(alice), "/api/v1/me/identity/export", body)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert bytes(WrappedIdentity.objects.get(user=alice.user).password_blob) not in \
        response.content
    assert not AuditEvent.objects.filter(kind="identity_exported").exists()
    assert not mail.outbox


def test_export_needs_a_fresh_code_when_2fa_is_on(tmp_path):
    alice = make_user()
    device, _ = enrol_totp(alice.user)
    client = login_client(alice)
    assert export(client).json()["error"] == "code_required"
    ok = export(client, code=fresh_code(device))
    exported_identity_file(ok, tmp_path)


def test_anonymous_and_get_requests_are_refused():
    assert post_json(Client(), "/api/v1/me/identity/export",
                     {"password": PASSWORD}).status_code == 401
    alice = make_user()
    assert login_client(alice).get("/api/v1/me/identity/export").status_code == 405


def test_export_page_downloads_the_file(tmp_path):
    alice = make_user()
    client = login_client(alice)
    assert client.get("/me/export/").status_code == 200
    wrong = client.post("/me/export/", {"password": "wrong password 1234"})
    assert wrong.status_code == 403 and b"not your current password" in wrong.content
    response = client.post("/me/export/", {"password": PASSWORD})
    exported_identity_file(response, tmp_path)
