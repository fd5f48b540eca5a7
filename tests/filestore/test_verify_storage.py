"""``manage.py verify_storage`` over uploads (no key needed): each problem kind is found
where it was made, next to a clean run that finds none, and nothing is reported for a
file too young to judge."""

from __future__ import annotations

import io
import json
import os
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from filestore import actions, storage
from filestore.models import CipherUpload
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.filestore.v2_support import age_file
from tests.support.v2chat import V2User

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def complete(user, data: bytes) -> CipherUpload:
    """A complete upload as the tus app leaves one (blob, length, recorded SHA-256)."""
    import hashlib

    upload = actions.do_create(user, len(data))
    storage.blob_path(upload.blob_name).write_bytes(data)
    CipherUpload.objects.filter(pk=upload.pk).update(
        state=CipherUpload.State.COMPLETE, offset=len(data), header_len=0,
        sha256=hashlib.sha256(data).hexdigest())
    return CipherUpload.objects.get(pk=upload.pk)


def report(*args) -> tuple[bool, dict]:
    out = io.StringIO()
    try:
        call_command("verify_storage", "--json", *args, stdout=out)
        ok = True
    except CommandError:
        ok = False
    return ok, json.loads(out.getvalue())


def kinds(doc: dict) -> list[tuple[str, str]]:
    return sorted((p["kind"], p["where"]) for p in doc["problems"])


def test_each_problem_is_found_where_it_was_made(media):
    alice = V2User.signup("alice")
    data, _ = age_file(os.urandom(70_000))
    good, missing, cut = (complete(alice.user, data) for _ in range(3))
    partial = actions.do_create(alice.user, len(data))
    CipherUpload.objects.filter(pk=partial.pk).update(offset=1000)
    storage.blob_path(partial.blob_name).write_bytes(data[:1500])
    ok, doc = report()
    assert ok and doc["problems"] == [], doc
    assert (doc["stored_files"], doc["uploads"]) == (3, 1)
    assert doc["database_blobs"] == 2  # alice's password- and recovery-wrapped identity

    storage.blob_path(missing.blob_name).unlink()
    storage.blob_path(cut.blob_name).write_bytes(data[:-1])
    storage.blob_path(partial.blob_name).write_bytes(data[:500])  # below the record
    orphan = media / "blobs" / "v2" / "zz" / "stray.age"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(data)
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    young = media / "blobs" / "v2" / "zz" / "young.age"
    young.write_bytes(b"x")
    ok, doc = report()
    assert not ok
    assert kinds(doc) == sorted([("missing", missing.blob_name),
                                 ("size_mismatch", cut.blob_name),
                                 ("size_mismatch", partial.blob_name),
                                 ("orphan", "blobs/v2/zz/stray.age")])
    assert doc["recent_skipped"] == 1
    assert all(good.pk not in p["detail"] for p in doc["problems"])


def test_deep_sees_a_flipped_byte_and_the_database_check_an_edited_envelope(media):
    alice = V2User.signup("alice")
    data, _ = age_file(os.urandom(70_000))
    upload = complete(alice.user, data)
    blob = storage.blob_path(upload.blob_name)
    flipped = bytearray(data)
    flipped[-100] ^= 1
    blob.write_bytes(bytes(flipped))
    assert report()[0]  # structure alone cannot see it
    ok, doc = report("--deep")
    assert not ok and kinds(doc) == [("hash_mismatch", upload.blob_name)]
    assert doc["hashed"] == 1
    blob.write_bytes(data)
    from accounts.models import WrappedIdentity

    WrappedIdentity.objects.filter(user=alice.user).update(recovery_blob=b"not age")
    ok, doc = report("--deep")
    assert not ok and [p["kind"] for p in doc["problems"]] == ["unparsable"]
    assert "recovery-wrapped identity" in doc["problems"][0]["where"]
    assert report("--deep", "--files-only")[0]
