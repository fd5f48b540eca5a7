"""Operator surfaces of filestore: the storage-used column and the uploads list of the
admin, metadata only (the server has no file name to show, and shows none)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from accounts.admin_site import site
from accounts.models import User
from filestore.admin import UploadAdmin, storage_used
from filestore.models import CipherUpload
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.filestore.v2_support import age_file, create, tus_upload, upload_id, v2_member

pytestmark = pytest.mark.usefixtures("fresh_rate_limits")


@pytest.mark.dbsensitive
def test_user_admin_shows_storage_used_per_user(start_shared_server):
    """The accounts User admin lists each user's stored bytes (the lengths of their complete
    age files): the uploader's file counts for the uploader only, an upload in progress
    counts for nobody (the other user shows 0)."""
    server = start_shared_server("uvicorn")  # one for the module
    alice, bob = v2_member(server), v2_member(server)
    data, _ = age_file(b"s" * 12_000)
    tus_upload(alice, server, data)
    assert create(bob, server, 50_000).status_code == 201  # in progress: not stored
    user_admin = site.get_model_admin(User)
    assert storage_used in user_admin.list_display
    request = RequestFactory().get("/admin/accounts/user/")
    rows = {u.email: storage_used(u) for u in user_admin.get_queryset(request)}
    assert len(data) > 12_000 and rows[alice.email] == f"{len(data) / 1024:.1f}\xa0KB"
    assert rows[bob.email] == "0\xa0bytes"


@pytest.mark.dbsensitive
def test_the_uploads_admin_is_read_only_metadata(start_shared_server):
    """The uploads list shows ids, uploader, lengths and states; it has no add, change or
    delete, and no column that could carry a name (none reached the server)."""
    server = start_shared_server("uvicorn")  # one for the module
    alice = v2_member(server)
    data, _ = age_file(b"m" * 5_000)
    path = tus_upload(alice, server, data)
    model_admin = site.get_model_admin(CipherUpload)
    assert isinstance(model_admin, UploadAdmin)
    request = RequestFactory().get("/admin/filestore/cipherupload/")
    request.user = User.objects.get(email=alice.email)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert not model_admin.has_change_permission(request)
    row = model_admin.get_queryset(request).get()
    assert (row.pk, row.length, row.state) == (upload_id(path), len(data), "complete")
    assert model_admin.messages(row) == 0
    shown = set(model_admin.list_display) | set(model_admin.fields)
    assert not {"sha256", "blob_name", "header_len"} & shown


@pytest.mark.django_db(transaction=True)
def test_the_uploads_changelist_renders_sorted_by_every_column(settings, tmp_path):
    """The changelist (sorted by each column, the messages count included) and the change
    page render for a staff user; they show the upload's id and no blob path."""
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore

    from filestore import actions

    settings.MEDIA_ROOT = str(tmp_path)
    staff = User.objects.create(email="staff@example.com", is_staff=True, is_superuser=True)
    staff.is_verified = lambda: True  # what django-otp's middleware sets after the code
    upload = actions.do_create(staff, 1000)
    model_admin = site.get_model_admin(CipherUpload)
    for index in range(len(model_admin.list_display)):
        request = RequestFactory().get("/admin/filestore/cipherupload/", {"o": str(index)})
        request.user, request.session = staff, SessionStore()
        request._messages = FallbackStorage(request)
        page = model_admin.changelist_view(request).render().content.decode()
        assert upload.pk in page and upload.blob_name not in page
    request = RequestFactory().get("/")
    request.user, request.session = staff, SessionStore()
    request._messages = FallbackStorage(request)
    page = model_admin.change_view(request, upload.pk).render().content.decode()
    assert upload.pk in page and upload.blob_name not in page
