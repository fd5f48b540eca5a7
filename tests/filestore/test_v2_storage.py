"""What a ciphertext-mode upload leaves on the server: no plaintext and no one-time
identity anywhere it keeps data; and ``verify_storage --deep`` sees one flipped byte.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from filestore.models import CipherUpload
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.filestore.v2_support import age_file, sha256, tus_upload, upload_id, v2_member

pytestmark = pytest.mark.usefixtures("fresh_rate_limits")


def needles(plaintext: bytes, identity_text: str) -> dict[str, bytes]:
    """32-byte slices of the plaintext (raw, hex, base64) and the identity (as text,
    lowercase and its bech32 payload), each named for the report."""
    out = {}
    for start in (0, len(plaintext) // 2, len(plaintext) - 32):
        piece = plaintext[start:start + 32]
        out[f"plaintext[{start}]"] = piece
        out[f"plaintext[{start}] hex"] = piece.hex().encode()
        out[f"plaintext[{start}] b64"] = base64.b64encode(piece)
    out["identity"] = identity_text.encode()
    out["identity lower"] = identity_text.lower().encode()
    out["identity payload"] = identity_text.rsplit("1", 1)[-1].encode()[:40]
    return out


def database_files() -> list[Path]:
    name = Path(str(connection.settings_dict["NAME"]))
    return [p for p in (name, Path(f"{name}-wal"), Path(f"{name}-journal")) if p.exists()]


def search(roots: list[Path], files: list[Path], wanted: dict[str, bytes]) -> list[str]:
    hits = []
    paths = [p for root in roots for p in root.rglob("*") if p.is_file()] + files
    for path in paths:
        data = path.read_bytes()
        hits += [f"{label} in {path}" for label, needle in wanted.items() if needle in data]
    return hits


def test_no_plaintext_or_one_time_identity_in_media_or_the_database(start_server):
    """After a v2 upload, neither MEDIA_ROOT nor the SQLite database file and its -wal hold
    a 32-byte plaintext slice or the one-time identity. Positive control: the same search
    finds both once they are planted in MEDIA_ROOT and in a database row."""
    assert connection.vendor == "sqlite"  # the database-file probe reads SQLite's files
    server = start_server("uvicorn")
    alice = v2_member(server)
    plaintext = os.urandom(300_000)
    data, identity = age_file(plaintext)
    path = tus_upload(alice, server, data, chunk_size=50_000)
    upload = CipherUpload.objects.get(pk=upload_id(path))
    assert upload.sha256 == sha256(data)
    # The blob is the owner's alone, whatever the umask (the server made it 0600).
    assert (server.media_root / upload.blob_name).stat().st_mode & 0o777 == 0o600
    wanted = needles(plaintext, str(identity))
    assert len(database_files()) >= 1
    assert search([server.media_root], database_files(), wanted) == []
    # The search reads the stored blob: a slice of the ciphertext is found there.
    assert search([server.media_root], [], {"ciphertext": data[5000:5032]})
    # Positive control: plant them where the probe looks.
    (server.media_root / "planted.bin").write_bytes(b"..." + plaintext[150_000:150_032] + b"...")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE probe_control (v TEXT)")
        cursor.execute("INSERT INTO probe_control VALUES (%s)", [str(identity)])
    hits = search([server.media_root], database_files(), wanted)
    assert any(h.startswith("plaintext[150000] in") for h in hits), hits
    assert any(h.startswith("identity in") for h in hits), hits
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE probe_control")


def test_verify_storage_deep_reports_one_flipped_payload_byte(start_server):
    """--deep passes on the intact blob and fails (exit 1, hash_mismatch) once one payload
    byte is flipped; without --deep the flipped byte goes unseen (the structural check
    cannot see it), which is why --deep exists."""
    server = start_server("uvicorn")
    alice = v2_member(server)
    data, _ = age_file(b"p" * 200_000)
    path = tus_upload(alice, server, data)
    upload = CipherUpload.objects.get(pk=upload_id(path))
    with override_settings(MEDIA_ROOT=str(server.media_root)):
        out = io.StringIO()
        call_command("verify_storage", "--deep", "--files-only", stdout=out)
        assert "1 stored file(s) (1 hashed)" in out.getvalue()
        blob = server.media_root / upload.blob_name
        raw = bytearray(blob.read_bytes())
        raw[upload.header_len + 16 + 1000] ^= 0x01
        blob.write_bytes(bytes(raw))
        call_command("verify_storage", "--files-only", stdout=io.StringIO())  # unseen
        out = io.StringIO()
        with pytest.raises(CommandError) as failure:
            call_command("verify_storage", "--deep", "--files-only", stdout=out)
        assert failure.value.returncode == 1
        assert f"hash_mismatch: {upload.blob_name}" in out.getvalue()


def test_purge_uploads_removes_expired_v2_uploads_and_keeps_the_rest(start_server):
    """An incomplete v2 upload past its expiry goes (row and blob) with purge_uploads --yes;
    a dry run changes nothing; an unexpired one and a complete one stay."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.filestore.v2_support import create, path_of

    server = start_server("uvicorn")
    alice = v2_member(server)
    data, _ = age_file(b"e" * 10_000)
    done = upload_id(tus_upload(alice, server, data))
    stale = upload_id(path_of(create(alice, server, 5000).headers["Location"]))
    fresh = upload_id(path_of(create(alice, server, 5000).headers["Location"]))
    CipherUpload.objects.filter(pk__in=[stale, done]).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    stale_blob = server.media_root / CipherUpload.objects.get(pk=stale).blob_name
    with override_settings(MEDIA_ROOT=str(server.media_root)):
        call_command("purge_uploads", stdout=io.StringIO())
        assert CipherUpload.objects.filter(pk=stale).exists() and stale_blob.exists()
        call_command("purge_uploads", "--yes", stdout=io.StringIO())
    assert set(CipherUpload.objects.values_list("pk", flat=True)) == {done, fresh}
    assert not stale_blob.exists()


def test_blob_path_helper_stays_inside_media_root(settings, tmp_path):
    """Blob names come from the database: one that would resolve outside the blob store
    is refused, whatever its spelling."""
    from filestore import storage

    settings.MEDIA_ROOT = str(tmp_path)
    assert storage.blob_path("blobs/v2/ab/abc.age") == (tmp_path / "blobs/v2/ab/abc.age").resolve()
    for name in ("../etc/passwd", "blobs/../../x", "/etc/passwd", "blobs", "other/x.age",
                 "blobs/v2/../../db.sqlite3"):
        with pytest.raises(ValueError):
            storage.blob_path(name)
