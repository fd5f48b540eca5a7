"""The maintenance commands (docs/operations.md, "Maintenance commands"), on version 2 data.

The data is made the way clients make it (tests/ops/seed.py): conversations with
signed membership chains and epochs, sealed messages, age files the "client"
encrypted, stored as completed tus uploads and claimed by file messages.

- ``purge_expired``: dry run by default (changes nothing, says what would go);
  ``--yes`` tombstones exactly the messages past their conversation's expiry (set
  by the chain's ``set-expiry``), deletes the files only they name (row and blob)
  and the stale uploads; idempotent. ``purge_uploads`` dry-runs the same way.
- ``verify_storage``: exit 0 on a good store; each injected problem (truncated
  blob, an impossible age length, garbage blob, orphan file, missing blob, an
  upload shorter than its recorded offset, a database age file that does not
  parse) is listed and exits non-zero; ``--deep`` also finds a blob swapped for
  another age file of the same size, or a flipped payload bit, by the SHA-256.
- ``usage_stats``: counts that match the seeded data, as text and JSON; no
  content.
Each has ``--help`` and refuses bad arguments with a CommandError.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

import agecrypt
from accounts.models import User, WrappedIdentity
from client import membership
from filestore.models import CipherUpload, FileReference
from messaging.models import EpochV2, MessageV2
from tests.accounts import enrol_totp, fresh_rate_limits  # noqa: F401
from tests.filestore.v2_support import age_file
from tests.ops import seed
from tests.support.accounts import make_user
from tests.support.live import REPO_ROOT, database_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.dbsensitive,
              pytest.mark.usefixtures("fresh_rate_limits")]

HOUR = timedelta(hours=1)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def manage(*args, media_root) -> subprocess.CompletedProcess:
    """``manage.py`` in its own process, on the test database, as an operator runs it."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "MEDIA_ROOT": str(media_root), **database_env()}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def backdate(message_id, delta: timedelta) -> None:
    MessageV2.objects.filter(pk=message_id).update(server_time=timezone.now() - delta)


def message_of(upload: CipherUpload) -> MessageV2:
    """The file message that claimed ``upload``."""
    return FileReference.objects.get(upload=upload).message


def text_message(group, sender, text: str) -> MessageV2:
    return MessageV2.objects.get(conversation=group.hex, seq=seed.v2_send(group, sender,
                                                                          text)["seq"])


def state_snapshot():
    """Everything a purge could change: messages (their ciphertext), uploads, file
    references and the blob files."""
    return (
        sorted((m.pk, m.removed_at, bytes(m.box)) for m in MessageV2.objects.all()),
        sorted(CipherUpload.objects.values_list("pk", "state", "offset")),
        sorted(FileReference.objects.values_list("upload_id", "message_id")),
        seed.blob_files(),
    )


@pytest.fixture
def expiring(media):
    """A conversation with a 1-hour expiry: two expired messages (a text and a file),
    one fresh text, one stale upload and one fresh upload in progress."""
    alice, bob = seed.v2_users("alice", "bob")
    group = seed.v2_group(alice, bob)
    old_text = text_message(group, alice, "an old message")
    old_file, _key = seed.v2_store_file(group, alice, b"x" * 70_000)
    fresh_text = text_message(group, bob, "a fresh message")
    r = group.append(alice, "set-expiry", argument=membership.expiry_argument(3600))
    assert r.status_code == 201, r.content
    backdate(old_text.pk, 2 * HOUR)
    backdate(message_of(old_file).pk, 2 * HOUR)
    stale = seed.v2_start_upload(alice, 100_000)
    CipherUpload.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - HOUR)
    fresh_upload = seed.v2_start_upload(bob, 100_000)
    return {"old_text": old_text.pk, "old_file": old_file,
            "old_file_message": message_of(old_file).pk, "fresh_text": fresh_text.pk,
            "stale": stale, "fresh_upload": fresh_upload}


def test_purge_expired_dry_run_changes_nothing(expiring, media):
    old_file = expiring["old_file"]
    before = state_snapshot()
    output = run("purge_expired")
    assert (f"Would delete 2 expired message(s), 1 file(s) ({old_file.length} bytes), "
            "1 stale upload(s) (100000 bytes reserved)") in output
    assert "--yes" in output
    assert state_snapshot() == before
    assert (media / old_file.blob_name).exists()  # positive control of the probe


def test_purge_expired_yes_deletes_exactly_the_expired(expiring, media):
    old_file, stale, fresh_upload = (expiring[k] for k in ("old_file", "stale",
                                                           "fresh_upload"))
    output = run("purge_expired", "--yes")
    assert (f"Deleted 2 expired message(s), 1 file(s) ({old_file.length} bytes), "
            "1 stale upload(s)") in output

    for expired in (expiring["old_text"], expiring["old_file_message"]):
        message = MessageV2.objects.get(pk=expired)
        assert message.removed_at is not None and bytes(message.box) == b""  # a tombstone
        assert message.removed_reason == "expiry"
        assert message.seq >= 1 and message.sender_id is not None
    fresh = MessageV2.objects.get(pk=expiring["fresh_text"])
    assert fresh.removed_at is None and bytes(fresh.box)
    assert not CipherUpload.objects.filter(pk=old_file.pk).exists()
    assert not (media / old_file.blob_name).exists()
    assert not CipherUpload.objects.filter(pk=stale.pk).exists()
    assert not (media / stale.blob_name).exists()
    assert CipherUpload.objects.get(pk=fresh_upload.pk).state == CipherUpload.State.UPLOADING
    assert (media / fresh_upload.blob_name).exists()

    before = state_snapshot()
    again = run("purge_expired", "--yes")
    assert "Deleted 0 expired message(s), 0 file(s) (0 bytes), 0 stale upload(s)" in again
    assert state_snapshot() == before


def test_purge_expired_keeps_a_file_a_fresh_message_still_names(media):
    """A file goes with the last message naming it: a fresh forward keeps it."""
    alice, bob = seed.v2_users("alice", "bob")
    group = seed.v2_group(alice, bob)
    upload, _key = seed.v2_store_file(group, alice, b"f" * 1000)
    first = message_of(upload)
    assert group.send_file(bob, upload.pk).status_code == 201  # Bob forwards it
    group.append(alice, "set-expiry", argument=membership.expiry_argument(3600))
    backdate(first.pk, 2 * HOUR)
    assert "Would delete 1 expired message(s), 0 file(s) (0 bytes)" in run("purge_expired")
    run("purge_expired", "--yes")
    assert MessageV2.objects.get(pk=first.pk).removed_at is not None
    assert CipherUpload.objects.filter(pk=upload.pk).exists()
    assert (media / upload.blob_name).exists()


def test_purge_expired_also_deletes_a_tombstoned_messages_leftover_blob(media):
    """A crash between the tombstone (its file reference gone) and the release after commit
    leaves an upload no message names: the purge finds it once the upload expiry has
    passed since completion and deletes row and blob."""
    alice, bob = seed.v2_users("alice", "bob")
    group = seed.v2_group(alice, bob)
    upload, _key = seed.v2_store_file(group, alice, b"y" * 1000)
    message = message_of(upload)
    MessageV2.objects.filter(pk=message.pk).update(box=b"", removed_at=timezone.now(),
                                                   removed_reason="expiry")
    assert FileReference._meta.db_table == "filestore_filereference"
    with connection.cursor() as cursor:  # no post_delete: the release never ran
        cursor.execute("DELETE FROM filestore_filereference WHERE message_id = %s",
                       [message.pk])
    CipherUpload.objects.filter(pk=upload.pk).update(completed_at=timezone.now() - timedelta(
        seconds=settings.SECURECHAT_UPLOAD_EXPIRY_SECONDS + 60))
    assert f"1 stale upload(s) ({upload.length} bytes reserved)" in run("purge_expired")
    assert (media / upload.blob_name).exists()
    run("purge_expired", "--yes")
    assert not (media / upload.blob_name).exists()
    assert not CipherUpload.objects.filter(pk=upload.pk).exists()


def test_purge_uploads_dry_runs_without_yes(expiring, media):
    stale = expiring["stale"]
    before = state_snapshot()
    output = run("purge_uploads")
    assert "Would delete 1 stale upload(s) (100000 bytes reserved). Run with --yes." in output
    assert state_snapshot() == before
    assert "Deleted 1 stale upload(s)" in run("purge_uploads", "--yes")
    assert not CipherUpload.objects.filter(pk=stale.pk).exists()
    assert not (media / stale.blob_name).exists()
    # Expiry is purge_expired's business: the expired messages are untouched.
    assert MessageV2.objects.get(pk=expiring["old_text"]).removed_at is None


@pytest.mark.parametrize("command", ["purge_expired", "purge_uploads", "verify_storage",
                                     "usage_stats"])
def test_bad_arguments_are_command_errors(command, media):
    with pytest.raises(CommandError):
        run(command, "--no-such-option")
    with pytest.raises(CommandError):
        run(command, "unexpected-positional")


def test_bad_option_values_are_command_errors(media):
    with pytest.raises(CommandError, match="--grace"):
        run("verify_storage", "--grace", "-1")
    with pytest.raises(CommandError, match="--top"):
        run("usage_stats", "--top", "-3")
    with pytest.raises(CommandError):
        run("usage_stats", "--top", "many")


def test_each_command_has_help(media):
    """``manage.py <command> --help`` describes it and its options (own process)."""
    expected = {"purge_expired": ["Dry run unless --yes", "--yes"],
                "purge_uploads": ["dry run without --yes", "--yes"],
                "verify_storage": ["parses as age", "--json", "--grace", "--deep", "Exits 1"],
                "usage_stats": ["top storage", "--json", "--top"]}
    for command, phrases in expected.items():
        result = manage(command, "--help", media_root=media)
        assert result.returncode == 0, result.stderr
        for phrase in phrases:
            assert phrase in " ".join(result.stdout.split()), (command, phrase)


# --- verify_storage ---------------------------------------------------------------

@pytest.fixture
def store(media):
    """A good store: two files (one of several chunks), an upload half written, a text."""
    alice, bob = seed.v2_users("alice", "bob")
    group = seed.v2_group(alice, bob)
    seed.v2_send(group, alice, "hello")
    big, _ = seed.v2_store_file(group, alice, os.urandom(200_000))
    small, _ = seed.v2_store_file(group, bob, b"small")
    data, _ = age_file(os.urandom(3 * agecrypt.CHUNK_SIZE + 5), settings.SECURECHAT_KEY_TYPE)
    partial = seed.v2_start_upload(alice, len(data), data[:2 * agecrypt.CHUNK_SIZE])
    return {"big": big, "small": small, "partial": partial, "alice": alice, "bob": bob,
            "group": group}


def verify(*args) -> tuple[bool, str, dict]:
    """(ok, text output, JSON report)."""
    out = io.StringIO()
    try:
        call_command("verify_storage", *args, stdout=out, stderr=io.StringIO())
        ok = True
    except CommandError as exc:
        assert exc.returncode == 1
        ok = False
    text = out.getvalue()
    out = io.StringIO()
    try:
        call_command("verify_storage", "--json", *args, stdout=out, stderr=io.StringIO())
    except CommandError:
        pass
    return ok, text, json.loads(out.getvalue())


def test_verify_storage_passes_a_good_store(store, media):
    ok, text, report = verify()
    assert ok, text
    assert "No problems found." in text
    assert report["ok"] is True and report["problems"] == []
    # stored files: complete uploads; uploads: in progress
    assert report["stored_files"] == 2 and report["uploads"] == 1
    assert report["disk_files"] == 3
    # wrapped identities (password and recovery, 2 users), epoch envelopes (the group's 2)
    assert WrappedIdentity.objects.count() == 2 and EpochV2.objects.count() == 2
    assert report["database_blobs"] == 2 * 2 + 2
    deep_ok, deep_text, deep = verify("--deep")
    assert deep_ok and deep["hashed"] == 2, deep_text


def old(path) -> None:
    """Make a file look older than the orphan grace period."""
    past = time.time() - 3600
    os.utime(path, (past, past))


ORPHAN = "blobs/v2/ab/abababababababababababababababab.age"


def inject_truncated(store, media):
    path = media / store["big"].blob_name
    path.write_bytes(path.read_bytes()[:-1])
    return "size_mismatch", store["big"].blob_name


def inject_truncated_impossible(store, media):
    """The blob cut inside its final chunk's tag and its row edited to match: no age file
    has that payload length."""
    path = media / store["small"].blob_name
    path.write_bytes(path.read_bytes()[:-10])
    CipherUpload.objects.filter(pk=store["small"].pk).update(length=path.stat().st_size)
    return "unparsable", store["small"].blob_name


def inject_garbage(store, media):
    path = media / store["small"].blob_name
    path.write_bytes(os.urandom(path.stat().st_size))
    return "unparsable", store["small"].blob_name


def inject_orphan(store, media):
    path = media / ORPHAN
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(age_file(b"x", settings.SECURECHAT_KEY_TYPE)[0])
    old(path)
    return "orphan", ORPHAN


def inject_missing(store, media):
    (media / store["big"].blob_name).unlink()
    return "missing", store["big"].blob_name


def inject_missing_upload(store, media):
    (media / store["partial"].blob_name).unlink()
    return "missing", store["partial"].blob_name


def inject_short_upload(store, media):
    path = media / store["partial"].blob_name
    path.write_bytes(path.read_bytes()[:-100])  # shorter than the recorded offset
    return "size_mismatch", store["partial"].blob_name


def inject_bad_epoch_envelope(store, media):
    epoch = EpochV2.objects.order_by("pk").first()
    EpochV2.objects.filter(pk=epoch.pk).update(envelope=b"not an age file")
    return "unparsable", f"epoch {epoch.pk} envelope"


def inject_bad_wrapped_identity(store, media):
    user_id = store["bob"].id
    WrappedIdentity.objects.filter(user_id=user_id).update(recovery_blob=b"not an age file")
    return "unparsable", f"recovery-wrapped identity of user {user_id}"


@pytest.mark.parametrize("inject", [
    inject_truncated, inject_truncated_impossible, inject_garbage, inject_orphan,
    inject_missing, inject_missing_upload, inject_short_upload, inject_bad_epoch_envelope,
    inject_bad_wrapped_identity], ids=lambda f: f.__name__.removeprefix("inject_"))
def test_verify_storage_lists_each_problem_and_fails(store, media, inject):
    kind, where = inject(store, media)
    ok, text, report = verify()
    assert not ok
    assert f"{kind}: {where}" in text, text
    assert [(p["kind"], p["where"]) for p in report["problems"]] == [(kind, where)]
    assert report["ok"] is False


def swap(store, media):
    """Another valid age file of exactly the right size: only the digest can tell."""
    path = media / store["small"].blob_name
    size = path.stat().st_size
    other = age_file(b"other", settings.SECURECHAT_KEY_TYPE)[0]
    assert len(other) == size
    path.write_bytes(other)
    return path


def flip_payload_bit(store, media):
    """One bit of the payload (bit rot): structure and size unchanged."""
    path = media / store["big"].blob_name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("damage", [swap, flip_payload_bit], ids=["swapped", "bit_flip"])
def test_verify_storage_deep_finds_what_only_the_digest_can_tell(store, media, damage):
    """The structural check cannot see it (it proves structure, not authenticity); --deep
    hashes every complete blob against the SHA-256 recorded at upload and lists it."""
    path = damage(store, media)
    where = path.relative_to(media).as_posix()
    ok, text, _report = verify()
    assert ok, text
    ok, text, report = verify("--deep")
    assert not ok
    assert f"hash_mismatch: {where}" in text, text
    assert [(p["kind"], p["where"]) for p in report["problems"]] == [("hash_mismatch", where)]
    assert report["hashed"] == 2


def test_a_fresh_orphan_waits_for_the_grace_period(store, media):
    """An unreferenced file just written may be an upload being created: skipped by default,
    reported with --grace 0."""
    inject_orphan(store, media)
    os.utime(media / ORPHAN)  # now
    ok, text, report = verify()
    assert ok and report["recent_skipped"] == 1, text
    ok, text, report = verify("--grace", "0")
    assert not ok and report["problems"][0]["kind"] == "orphan"


def test_a_deleted_uploads_blob_left_on_disk_is_an_orphan(store, media):
    """The row went but the blob stayed (a crash between the two): an orphan."""
    CipherUpload.objects.filter(pk=store["small"].pk).delete()
    old(media / store["small"].blob_name)
    ok, text, _report = verify()
    assert not ok and f"orphan: {store['small'].blob_name}" in text


def test_verify_storage_exit_status_from_manage_py(store, media):
    """Run as an operator would: exit 0 on a good store, 1 with the problem listed."""
    good = manage("verify_storage", "--deep", media_root=media)
    assert good.returncode == 0, good.stdout + good.stderr
    inject_missing(store, media)
    bad = manage("verify_storage", "--json", media_root=media)
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["problems"][0]["where"] == store["big"].blob_name
    assert "1 problem(s) found" in bad.stderr


# --- usage_stats ---------------------------------------------------------------------

def test_usage_stats_counts_match_the_seeded_data(media):
    alice, bob = seed.v2_users("alice", "bob")
    carol, dave = make_user(verified=False), make_user()
    User.objects.filter(pk=dave.user.pk).update(is_active=False)
    group = seed.v2_group(alice, bob)
    texts = ["usage one", "usage two", "usage three"]
    sent = [text_message(group, alice, t) for t in texts]
    backdate(sent[1].pk, timedelta(days=2))
    backdate(sent[2].pk, timedelta(days=10))
    a1, _ = seed.v2_store_file(group, alice, b"a" * 5000)
    a2, _ = seed.v2_store_file(group, alice, b"b" * 3000)
    b1, _ = seed.v2_store_file(group, bob, b"c" * 100_000)
    seed.v2_start_upload(bob, 777)
    enrol_totp(alice.user)  # last: her signup session answers 401 once 2FA is on

    stats = json.loads(run("usage_stats", "--json"))
    assert stats["users"]["total"] == 4
    assert stats["users"]["active"] == 3 and stats["users"]["deactivated"] == 1
    assert stats["users"]["verified"] == 3 and stats["users"]["with_2fa"] == 1
    assert stats["conversations"]["total"] == 1
    # file messages: those whose signed file claim names an upload
    assert stats["messages"]["total"] == 6 and stats["messages"]["file"] == 3
    assert stats["messages"]["last_24_hours"] == 4  # 1 text + 3 files
    assert stats["messages"]["last_7_days"] == 5
    assert stats["files"]["stored"] == 3
    assert stats["files"]["bytes"] == a1.length + a2.length + b1.length
    assert stats["files"]["uploads_in_progress"] == 1
    assert stats["files"]["upload_bytes_reserved"] == 777
    assert stats["top_storage"] == [
        {"user_id": bob.id, "email": bob.email, "files": 1, "bytes": b1.length},
        {"user_id": alice.id, "email": alice.email, "files": 2,
         "bytes": a1.length + a2.length},
    ]
    assert json.loads(run("usage_stats", "--json", "--top", "1"))["top_storage"][0][
        "email"] == bob.email

    text = run("usage_stats")
    assert "users: total 4" in text and bob.email in text  # positive control
    for secret in [*texts, carol.email]:
        assert secret not in text
