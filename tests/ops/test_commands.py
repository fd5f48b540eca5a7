"""The maintenance commands (docs/operations.md, "Maintenance commands").

- ``purge_expired``: dry run by default (changes nothing, says what would go);
  ``--yes`` tombstones exactly the messages past their conversation's expiry,
  deletes their files' blobs and the stale uploads; idempotent.
- ``verify_storage``: exit 0 on a good store; each injected problem (truncated
  blob, garbage blob, orphan file, missing blob, a database blob that is not
  age, a blob swapped for another age file) is listed and exits non-zero.
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
from django.core.management import CommandError, call_command
from django.utils import timezone

import agecrypt
from accounts.models import User
from filestore.models import StoredFile, Upload
from messaging.actions import do_set_expiry
from messaging.models import Message
from tests.accounts import enrol_totp
from tests.ops import seed
from tests.support.accounts import make_user
from tests.support.live import REPO_ROOT, database_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.dbsensitive]

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
    Message.objects.filter(pk=message_id).update(sent_at=timezone.now() - delta)


def state_snapshot():
    """Everything a purge could change: rows, their content columns and the blob files."""
    return (
        sorted((str(m.pk), m.deleted_at, bytes(m.body) if m.body is not None else None)
               for m in Message.objects.all()),
        sorted(StoredFile.objects.values_list("pk", "state")),
        sorted(Upload.objects.values_list("pk", "state", "offset")),
        seed.blob_files(),
    )


@pytest.fixture
def expiring(media):
    """A conversation with a 1-hour expiry: two expired messages (a text and a file),
    one fresh text, one stale upload and one fresh upload in progress."""
    alice, bob = make_user(), make_user()
    conversation_id = seed.conversation(alice, bob)
    old_text = seed.send(alice, conversation_id, "an old message")
    old_file = seed.store_file(alice, conversation_id, b"x" * 70_000, "old.bin")
    fresh_text = seed.send(bob, conversation_id, "a fresh message")
    do_set_expiry(alice.user, conversation_id, 3600)
    backdate(old_text.id, 2 * HOUR)
    backdate(old_file.message_id, 2 * HOUR)
    stale = seed.start_upload(alice, conversation_id, 100_000, "stale.bin")
    Upload.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - HOUR)
    fresh_upload = seed.start_upload(bob, conversation_id, 100_000, "fresh.bin")
    return {"old_text": old_text.id, "old_file": old_file, "fresh_text": fresh_text.id,
            "stale": stale, "fresh_upload": fresh_upload}


def test_purge_expired_dry_run_changes_nothing(expiring, media):
    before = state_snapshot()
    output = run("purge_expired")
    assert "Would delete 2 expired message(s), 1 file(s) (70000 bytes), 1 stale upload(s) " \
           "(100000 bytes reserved)" in output
    assert "--yes" in output
    assert state_snapshot() == before
    assert (media / expiring["old_file"].blob_name).exists()  # positive control of the probe


def test_purge_expired_yes_deletes_exactly_the_expired(expiring, media):
    old_file, stale, fresh_upload = (expiring[k] for k in ("old_file", "stale",
                                                           "fresh_upload"))
    output = run("purge_expired", "--yes")
    assert "Deleted 2 expired message(s), 1 file(s) (70000 bytes), 1 stale upload(s)" in output

    for expired in (expiring["old_text"], old_file.message_id):
        message = Message.objects.get(pk=expired)
        assert message.deleted_at is not None and message.body is None  # a tombstone
        assert message.seq >= 1 and message.sender_id is not None
    fresh = Message.objects.get(pk=expiring["fresh_text"])
    assert fresh.deleted_at is None and fresh.body is not None
    assert StoredFile.objects.get(pk=old_file.pk).state == StoredFile.State.DELETED
    assert not (media / old_file.blob_name).exists()
    assert not Upload.objects.filter(pk=stale.pk).exists()
    assert not (media / stale.blob_name).exists()
    assert Upload.objects.get(pk=fresh_upload.pk).state == Upload.State.UPLOADING
    assert (media / fresh_upload.blob_name).exists()

    before = state_snapshot()
    again = run("purge_expired", "--yes")
    assert "Deleted 0 expired message(s), 0 file(s) (0 bytes), 0 stale upload(s)" in again
    assert state_snapshot() == before


def test_purge_expired_also_deletes_a_tombstoned_messages_leftover_blob(media):
    """A crash between the tombstone and the blob deletion leaves a stored file behind:
    the purge finds it (its message is already a tombstone) and deletes the blob."""
    alice, bob = make_user(), make_user()
    conversation_id = seed.conversation(alice, bob)
    stored = seed.store_file(alice, conversation_id, b"y" * 1000, "kept.bin")
    Message.objects.filter(pk=stored.message_id).update(deleted_at=timezone.now(), body=None)
    assert "1 file(s) (1000 bytes)" in run("purge_expired")
    assert (media / stored.blob_name).exists()
    run("purge_expired", "--yes")
    assert not (media / stored.blob_name).exists()


@pytest.mark.parametrize("command", ["purge_expired", "verify_storage", "usage_stats"])
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
                "verify_storage": ["parses as age", "--json", "--grace", "Exits 1"],
                "usage_stats": ["top storage", "--json", "--top"]}
    for command, phrases in expected.items():
        result = manage(command, "--help", media_root=media)
        assert result.returncode == 0, result.stderr
        for phrase in phrases:
            assert phrase in " ".join(result.stdout.split()), (command, phrase)


# --- verify_storage ---------------------------------------------------------------

@pytest.fixture
def store(media):
    """A good store: two files (one of several chunks), an upload half written, messages."""
    alice, bob = make_user(), make_user()
    conversation_id = seed.conversation(alice, bob)
    seed.send(alice, conversation_id, "hello")
    big = seed.store_file(alice, conversation_id, os.urandom(200_000), "big.bin")
    small = seed.store_file(bob, conversation_id, b"small", "small.txt")
    data = os.urandom(3 * agecrypt.CHUNK_SIZE + 5)
    partial = seed.start_upload(alice, conversation_id, len(data), "partial.bin")
    seed.write_chunks(alice, partial, data, chunks=2)
    return {"big": big, "small": small, "partial": partial, "alice": alice, "bob": bob,
            "conversation_id": conversation_id}


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
    assert report["stored_files"] == 2 and report["uploads"] == 1
    assert report["disk_files"] == 3
    # message bodies (2 texts... here 1 text + 2 file messages), upload metadata (3),
    # contact pins (2 users), wrapped identities (2 per user)
    assert report["database_blobs"] == 3 + 3 + 2 + 4


def old(path) -> None:
    """Make a file look older than the orphan grace period."""
    past = time.time() - 3600
    os.utime(path, (past, past))


def inject_truncated(store, media):
    path = media / store["big"].blob_name
    path.write_bytes(path.read_bytes()[:-1])
    return "size_mismatch", store["big"].blob_name


def inject_truncated_impossible(store, media):
    path = media / store["small"].blob_name
    path.write_bytes(path.read_bytes()[:-10])  # the final chunk shorter than its tag
    return "unparsable", store["small"].blob_name


def inject_garbage(store, media):
    path = media / store["small"].blob_name
    path.write_bytes(os.urandom(path.stat().st_size))
    return "unparsable", store["small"].blob_name


def inject_swapped(store, media):
    """Another valid age file of exactly the right size: only the digest can tell."""
    path = media / store["small"].blob_name
    other = agecrypt.encrypt(b"other", [store[who].identity_file.recipient()
                                        for who in ("bob", "alice")])
    assert len(other) == path.stat().st_size
    path.write_bytes(other)
    return "digest_mismatch", store["small"].blob_name


def inject_orphan(store, media):
    path = media / "blobs" / "ab" / "abababababababababababababababab.age"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(agecrypt.encrypt(b"x", [store["alice"].identity_file.recipient()]))
    old(path)
    return "orphan", "blobs/ab/abababababababababababababababab.age"


def inject_missing(store, media):
    (media / store["big"].blob_name).unlink()
    return "missing", store["big"].blob_name


def inject_missing_upload(store, media):
    (media / store["partial"].blob_name).unlink()
    return "missing", store["partial"].blob_name


def inject_short_upload(store, media):
    path = media / store["partial"].blob_name
    path.write_bytes(path.read_bytes()[:-100])  # the second recorded chunk is cut
    return "size_mismatch", store["partial"].blob_name


def inject_bad_database_blob(store, media):
    message = Message.objects.filter(kind=Message.TEXT).first()
    Message.objects.filter(pk=message.pk).update(body=b"not an age file")
    return "unparsable", f"message {message.pk} body"


@pytest.mark.parametrize("inject", [
    inject_truncated, inject_truncated_impossible, inject_garbage, inject_swapped,
    inject_orphan, inject_missing, inject_missing_upload, inject_short_upload,
    inject_bad_database_blob], ids=lambda f: f.__name__.removeprefix("inject_"))
def test_verify_storage_lists_each_problem_and_fails(store, media, inject):
    kind, where = inject(store, media)
    ok, text, report = verify()
    assert not ok
    assert f"{kind}: {where}" in text, text
    assert [(p["kind"], p["where"]) for p in report["problems"]] == [(kind, where)]
    assert report["ok"] is False


def test_a_fresh_orphan_waits_for_the_grace_period(store, media):
    """An unreferenced file just written may be an upload being created: skipped by default,
    reported with --grace 0."""
    inject_orphan(store, media)
    path = media / "blobs" / "ab" / "abababababababababababababababab.age"
    os.utime(path)  # now
    ok, text, report = verify()
    assert ok and report["recent_skipped"] == 1, text
    ok, text, report = verify("--grace", "0")
    assert not ok and report["problems"][0]["kind"] == "orphan"


def test_a_deleted_files_blob_left_on_disk_is_an_orphan(store, media):
    StoredFile.objects.filter(pk=store["small"].pk).update(state=StoredFile.State.DELETED)
    old(media / store["small"].blob_name)
    ok, text, _report = verify()
    assert not ok and f"orphan: {store['small'].blob_name}" in text


def test_verify_storage_exit_status_from_manage_py(store, media):
    """Run as an operator would: exit 0 on a good store, 1 with the problem listed."""
    good = manage("verify_storage", media_root=media)
    assert good.returncode == 0, good.stdout + good.stderr
    inject_missing(store, media)
    bad = manage("verify_storage", "--json", media_root=media)
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["problems"][0]["where"] == store["big"].blob_name
    assert "1 problem(s) found" in bad.stderr


# --- usage_stats ---------------------------------------------------------------------

def test_usage_stats_counts_match_the_seeded_data(media):
    alice, bob, carol = make_user(), make_user(), make_user(verified=False)
    dave = make_user()
    User.objects.filter(pk=dave.user.pk).update(is_active=False)
    enrol_totp(alice.user)
    conversation_id = seed.conversation(alice, bob)
    texts = ["usage one", "usage two", "usage three"]
    sent = [seed.send(alice, conversation_id, t) for t in texts]
    backdate(sent[1].id, timedelta(days=2))
    backdate(sent[2].id, timedelta(days=10))
    seed.store_file(alice, conversation_id, b"a" * 5000, "alice-file.bin")
    seed.store_file(alice, conversation_id, b"b" * 3000, "alice-file-2.bin")
    seed.store_file(bob, conversation_id, b"c" * 100_000, "bob-file.bin")
    seed.start_upload(bob, conversation_id, 777, "in-progress.bin")

    stats = json.loads(run("usage_stats", "--json"))
    assert stats["users"]["total"] == 4
    assert stats["users"]["active"] == 3 and stats["users"]["deactivated"] == 1
    assert stats["users"]["verified"] == 3 and stats["users"]["with_2fa"] == 1
    assert stats["conversations"]["total"] == 1
    assert stats["messages"]["total"] == 6 and stats["messages"]["file"] == 3
    assert stats["messages"]["last_24_hours"] == 4  # 1 text + 3 files
    assert stats["messages"]["last_7_days"] == 5
    assert stats["files"]["stored"] == 3 and stats["files"]["bytes"] == 108_000
    assert stats["files"]["uploads_in_progress"] == 1
    assert stats["files"]["upload_bytes_reserved"] == 777
    assert stats["top_storage"] == [
        {"user_id": bob.user.pk, "email": bob.email, "files": 1, "bytes": 100_000},
        {"user_id": alice.user.pk, "email": alice.email, "files": 2, "bytes": 8000},
    ]
    assert json.loads(run("usage_stats", "--json", "--top", "1"))["top_storage"][0][
        "email"] == bob.email

    text = run("usage_stats")
    assert "users: total 4" in text and bob.email in text  # positive control
    for secret in [*texts, "alice-file.bin", "bob-file.bin", "in-progress.bin", carol.email]:
        assert secret not in text
