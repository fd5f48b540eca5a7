"""Version 2 file messages: the file claim links an upload to a message (protocol.md §20).

In-process (Django test client): v2 users made by the client flow, uploads
made complete the way the tus app leaves them (``actions.do_create``,
the bytes in the blob, state complete). Each refusal is paired with the
accepted case it differs from.
"""

from __future__ import annotations

import asyncio
import base64
import os
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.utils import timezone

from filestore import actions, storage
from filestore.models import CipherUpload, FileReference
from messaging.models import MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.v2chat import V2User, group_of, snapshot

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def quartet():
    return tuple(V2User.signup(n) for n in ("alice", "bob", "carol", "dave"))


def uploaded(user: V2User, data: bytes | None = None, *, completed_ago: int = 0) -> str:
    """A complete ciphertext-mode upload of ``user`` (as the tus app leaves one)."""
    data = data if data is not None else b"age-encryption.org/v1\n" + os.urandom(300)
    upload = actions.do_create(user.user, len(data))
    storage.blob_path(upload.blob_name).write_bytes(data)
    CipherUpload.objects.filter(pk=upload.pk).update(
        state=CipherUpload.State.COMPLETE, offset=len(data), header_len=22,
        completed_at=timezone.now() - timedelta(seconds=completed_ago))
    return upload.pk


def download(user: V2User, upload_id: str):
    return user.http.get(f"/api/v1/files/{upload_id}")


def body_of(response) -> bytes:
    """The streamed body (the view streams from an async iterator)."""
    async def collect():
        return b"".join([chunk async for chunk in response.streaming_content])

    assert response.status_code == 200
    return asyncio.run(collect())


def blob_exists(upload_id: str) -> bool:
    return storage.blob_path(f"blobs/v2/{upload_id[:2]}/{upload_id}.age").exists()


def test_members_of_the_conversation_download_the_file_others_get_404(quartet):
    alice, bob, carol, _ = quartet
    group = group_of(alice, bob)
    data = b"age-encryption.org/v1\n" + os.urandom(1000)
    upload_id = uploaded(alice, data)
    assert download(bob, upload_id).status_code == 404  # not named by any message yet
    assert body_of(download(alice, upload_id)) == data  # the uploader

    r = group.send_file(alice, upload_id)
    assert r.status_code == 201, r.content
    message = MessageV2.objects.get(seq=r.json()["items"][0]["seq"], conversation=group.hex)
    assert FileReference.objects.filter(upload_id=upload_id, message=message).exists()
    response = download(bob, upload_id)
    assert response.status_code == 200 and body_of(response) == data
    hidden, unknown = download(carol, upload_id), download(carol, "ab" * 16)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()  # the same answer as for no such upload


def test_naming_an_upload_the_sender_cannot_access_is_403_and_stores_nothing(quartet):
    alice, bob, carol, _ = quartet
    group = group_of(alice, bob)
    carols = uploaded(carol)
    before = snapshot()
    for upload_id in (carols, "cd" * 16):  # another's upload, and an id that does not exist
        r = group.send_file(alice, upload_id)
        assert r.status_code == 403, r.content
        assert r.json()["error"] == "forbidden"
    assert snapshot() == before and not FileReference.objects.exists()
    assert download(bob, carols).status_code == 404
    assert group.send_file(alice, uploaded(alice)).status_code == 201  # control: her own


def test_an_incomplete_upload_cannot_be_named(quartet):
    alice, bob, *_ = quartet
    group = group_of(alice, bob)
    upload = actions.do_create(alice.user, 500)
    r = group.send_file(alice, upload.pk)
    assert r.status_code == 400 and r.json()["field"] == "file_claim.statement"
    assert not FileReference.objects.exists()


def test_a_member_who_can_download_forwards_by_reference(quartet):
    alice, bob, carol, dave = quartet
    first, second = group_of(alice, bob), group_of(bob, carol)
    upload_id = uploaded(alice)
    assert second.send_file(bob, upload_id).status_code == 403  # bob cannot download it yet
    assert first.send_file(alice, upload_id).status_code == 201
    r = second.send_file(bob, upload_id)  # now he can: a forward names the same upload
    assert r.status_code == 201, r.content
    assert download(carol, upload_id).status_code == 200
    assert download(dave, upload_id).status_code == 404
    assert FileReference.objects.filter(upload_id=upload_id).count() == 2


@pytest.mark.parametrize("forgery", ["other_message", "other_signer", "text_kind"])
def test_a_claim_that_does_not_belong_to_its_message_is_refused(quartet, forgery):
    alice, bob, *_ = quartet
    group = group_of(alice, bob)
    upload_id = uploaded(alice)
    kwargs = {"other_message": {"claim_message_id": os.urandom(16)},
              "other_signer": {"signer": bob}, "text_kind": {"kind": "text"}}[forgery]
    before = snapshot()
    r = group.send_file(alice, upload_id, **kwargs)
    assert r.status_code == 400, r.content
    assert r.json()["field"].startswith("file_claim")
    assert snapshot() == before and not FileReference.objects.exists()
    assert group.send_file(alice, upload_id).status_code == 201  # control: a true claim


def test_a_flipped_claim_signature_is_bad_signature(quartet):
    alice, bob, *_ = quartet
    group = group_of(alice, bob)
    body = group.file_message(alice, uploaded(alice))
    sig = bytearray(base64.b64decode(body["file_claim"]["signature"]))
    sig[0] ^= 1
    body["file_claim"]["signature"] = base64.b64encode(bytes(sig)).decode()
    from tests.support.v2chat import post_json

    r = post_json(alice.http, group.url("messages"), body)
    assert r.status_code == 400 and r.json()["error"] == "bad_signature"


def test_the_blob_lives_while_a_message_names_it(quartet):
    alice, bob, carol, _ = quartet
    first, second = group_of(alice, bob), group_of(bob, carol)
    upload_id = uploaded(alice)
    original = first.send_file(alice, upload_id).json()["items"][0]["seq"]
    forward = second.send_file(bob, upload_id).json()["items"][0]["seq"]
    MessageV2.objects.get(conversation=first.hex, seq=original).delete()
    assert blob_exists(upload_id) and CipherUpload.objects.filter(pk=upload_id).exists()
    assert download(carol, upload_id).status_code == 200
    assert download(bob, upload_id).status_code == 200  # through the forward's conversation
    MessageV2.objects.get(conversation=second.hex, seq=forward).delete()
    assert not CipherUpload.objects.filter(pk=upload_id).exists()
    assert not blob_exists(upload_id)
    assert download(alice, upload_id).status_code == 404


def test_unsending_or_expiring_a_file_message_releases_its_upload(quartet):
    """A tombstoned file message names its upload no more: an upload only it named is
    deleted with its blob after commit; one a forward still names lives on."""
    alice, bob, carol, _ = quartet
    first, second = group_of(alice, bob), group_of(bob, carol)
    only_here, forwarded = uploaded(alice), uploaded(alice)
    lone = first.send_file(alice, only_here).json()["items"][0]
    shared = first.send_file(alice, forwarded).json()["items"][0]
    assert second.send_file(bob, forwarded).status_code == 201
    r = first.unsend(alice, bytes.fromhex(lone["message_hash"]))
    assert r.status_code == 201, r.content
    assert not CipherUpload.objects.filter(pk=only_here).exists() and not blob_exists(only_here)
    assert download(bob, only_here).status_code == 404
    MessageV2.objects.filter(pk=MessageV2.objects.get(
        conversation=first.hex, seq=shared["seq"]).pk).update(
        server_time=timezone.now() - timedelta(days=2))
    from client import membership

    assert first.append(alice, "set-expiry",
                        argument=membership.expiry_argument(3600)).status_code == 201
    call_command("purge_expired", "--yes")
    assert not FileReference.objects.filter(upload_id=forwarded,
                                            conversation_id=first.hex).exists()
    assert blob_exists(forwarded) and download(carol, forwarded).status_code == 200


def test_purge_uploads_removes_complete_uploads_no_message_claimed(quartet, settings):
    alice, bob, *_ = quartet
    group = group_of(alice, bob)
    expiry = settings.SECURECHAT_UPLOAD_EXPIRY_SECONDS
    old_unclaimed = uploaded(alice, completed_ago=expiry + 60)
    old_claimed = uploaded(alice, completed_ago=expiry + 60)
    recent = uploaded(alice, completed_ago=expiry - 600)
    assert group.send_file(alice, old_claimed).status_code == 201

    call_command("purge_uploads")  # dry run
    assert CipherUpload.objects.filter(pk=old_unclaimed).exists() and blob_exists(old_unclaimed)
    call_command("purge_uploads", "--yes")
    assert not CipherUpload.objects.filter(pk=old_unclaimed).exists()
    assert not blob_exists(old_unclaimed)
    assert blob_exists(old_claimed) and blob_exists(recent)
    assert set(CipherUpload.objects.values_list("pk", flat=True)) == {old_claimed, recent}


def test_a_referenced_upload_is_not_terminated(quartet):
    """tus DELETE of a complete upload: 204 while no message names it, 409 once one does."""
    from types import SimpleNamespace

    from filestore import tus
    from filestore.actions import UploadError

    alice, bob, *_ = quartet
    group = group_of(alice, bob)
    named, loose = uploaded(alice), uploaded(alice)
    assert group.send_file(alice, named).status_code == 201
    caller, sent = SimpleNamespace(user=alice.user), []

    async def send(message):
        sent.append(message)

    with pytest.raises(UploadError) as refused:
        async_to_sync(tus.delete_upload)(send, caller, named)
    assert (refused.value.status, refused.value.code) == (409, "upload_referenced")
    assert blob_exists(named) and download(bob, named).status_code == 200
    # async_to_sync, not asyncio.run: the view's database work then runs on this thread's
    # connection, as under a server, and leaves no connection open in a stray thread.
    async_to_sync(tus.delete_upload)(send, caller, loose)  # control
    assert sent[0]["status"] == 204 and not blob_exists(loose)


def test_the_timer_purge_expired_also_removes_unclaimed_uploads(quartet, settings):
    """``purge_expired --yes`` (the systemd timer) does what ``purge_uploads --yes`` does."""
    alice, *_ = quartet
    old = uploaded(alice, completed_ago=settings.SECURECHAT_UPLOAD_EXPIRY_SECONDS + 60)
    recent = uploaded(alice)
    call_command("purge_expired")  # dry run
    assert blob_exists(old)
    call_command("purge_expired", "--yes")
    assert not blob_exists(old) and not CipherUpload.objects.filter(pk=old).exists()
    assert blob_exists(recent)


def test_purge_expired_counts_and_deletes_the_files_only_expired_messages_name(quartet):
    """The dry run counts the files that go with expired messages (not a forwarded one a
    live message still names) and changes nothing; ``--yes`` deletes exactly those and
    reports the same counts; a second run finds nothing."""
    import io

    from client import membership

    alice, bob, carol, _ = quartet
    first, second = group_of(alice, bob), group_of(bob, carol)
    lone, forwarded = uploaded(alice, b"age-encryption.org/v1\n" + bytes(1000)), uploaded(alice)
    first.send_file(alice, lone)
    first.send_file(alice, forwarded)
    assert second.send_file(bob, forwarded).status_code == 201
    MessageV2.objects.filter(conversation=first.hex).update(
        server_time=timezone.now() - timedelta(days=2))
    assert first.append(alice, "set-expiry",
                        argument=membership.expiry_argument(3600)).status_code == 201
    out = io.StringIO()
    call_command("purge_expired", stdout=out)
    assert "Would delete 2 expired message(s), 1 file(s) (1022 bytes)" in out.getvalue()
    assert blob_exists(lone) and FileReference.objects.count() == 3
    out = io.StringIO()
    call_command("purge_expired", "--yes", stdout=out)
    assert "Deleted 2 expired message(s), 1 file(s) (1022 bytes)" in out.getvalue()
    assert not blob_exists(lone) and blob_exists(forwarded)
    out = io.StringIO()
    call_command("purge_expired", "--yes", stdout=out)
    assert "Deleted 0 expired message(s), 0 file(s) (0 bytes)" in out.getvalue()


def test_usage_stats_count_uploads_and_file_messages_without_content(quartet):
    """``usage_stats --json``: stored files and their bytes, uploads in progress, file
    messages (those whose claim names an upload) and the top storage users; no name."""
    import io
    import json

    alice, bob, *_ = quartet
    group = group_of(alice, bob)
    named = uploaded(alice, b"age-encryption.org/v1\n" + bytes(2000))
    uploaded(bob, b"age-encryption.org/v1\n" + bytes(500))
    actions.do_create(bob.user, 7000)  # in progress
    group.send_file(alice, named)
    group.send(alice, "hello")
    out = io.StringIO()
    call_command("usage_stats", "--json", stdout=out)
    stats = json.loads(out.getvalue())
    assert stats["files"] == {"stored": 2, "bytes": 2022 + 522, "uploads_in_progress": 1,
                              "upload_bytes_reserved": 7000}
    assert stats["messages"]["total"] == 2 and stats["messages"]["file"] == 1
    assert stats["conversations"]["total"] == 1
    assert [(row["email"], row["files"], row["bytes"]) for row in stats["top_storage"]] == [
        (alice.email, 1, 2022), (bob.email, 1, 522)]


def test_a_removed_member_loses_access(quartet):
    """Access follows current membership: removed from the conversation, 404."""
    alice, bob, carol, _ = quartet
    group = group_of(alice, bob, carol)
    upload_id = uploaded(alice)
    assert group.send_file(alice, upload_id).status_code == 201
    assert download(bob, upload_id).status_code == 200
    assert group.append(alice, "remove", bob).status_code == 201
    assert download(bob, upload_id).status_code == 404
    assert download(carol, upload_id).status_code == 200
