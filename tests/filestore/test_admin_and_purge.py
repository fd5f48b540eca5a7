"""Operator surfaces of filestore: the storage-used column and the stale-upload purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from accounts.admin_site import site
from accounts.models import User
from filestore.actions import do_purge_stale_uploads
from filestore.admin import storage_used
from filestore.models import Upload
from tests.filestore.helpers import create_upload, make_pair, random_bytes, tus_upload


@pytest.mark.dbsensitive
def test_user_admin_shows_storage_used_per_user(start_server):
    """The accounts User admin lists each user's stored bytes: the uploader's file counts
    for the uploader only (the other member shows 0)."""
    server = start_server("uvicorn")
    pair = make_pair(server)
    tus_upload(pair.alice, server, pair.conversation_id, random_bytes(12_345))
    user_admin = site.get_model_admin(User)
    assert storage_used in user_admin.list_display
    request = RequestFactory().get("/admin/accounts/user/")
    rows = {u.pk: storage_used(u) for u in user_admin.get_queryset(request)}
    assert rows[pair.alice.test_user.user.pk] == "12.1\xa0KB"
    assert rows[pair.bob.test_user.user.pk] == "0\xa0bytes"


@pytest.mark.dbsensitive
def test_purge_deletes_only_expired_and_voided_uploads(start_server, settings):
    """do_purge_stale_uploads removes expired incomplete and voided uploads with their blobs,
    keeps active ones, and its dry run changes nothing."""
    server = start_server("uvicorn")
    settings.MEDIA_ROOT = server.media_root
    pair = make_pair(server)
    paths = [create_upload(pair.alice, server, pair.conversation_id, 70_000) for _ in range(3)]
    expired, voided, active = (Upload.objects.get(pk=p.rsplit("/", 1)[-1]) for p in paths)
    Upload.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    Upload.objects.filter(pk=voided.pk).update(state=Upload.State.VOIDED)
    blob = {u.pk: server.media_root / u.blob_name for u in (expired, voided, active)}
    report = do_purge_stale_uploads(timezone.now(), dry_run=True)
    assert report.uploads == 2
    assert Upload.objects.count() == 3 and all(p.exists() for p in blob.values())
    report = do_purge_stale_uploads(timezone.now())
    assert report.uploads == 2 and report.blobs_deleted == 2
    assert list(Upload.objects.values_list("pk", flat=True)) == [active.pk]
    assert blob[active.pk].exists()
    assert not blob[expired.pk].exists() and not blob[voided.pk].exists()
