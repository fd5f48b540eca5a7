"""Files in the operator's admin (OTP site): metadata only, never names or content.

- The accounts User admin gains a "storage used" column (stored files'
  plaintext sizes; sizes are metadata stored in the clear, DESIGN.md §3).
- Stored files and uploads are listed read-only: ids, sizes, states and
  times. Names and types exist only encrypted and are not shown.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.template.defaultfilters import filesizeformat

from accounts.admin_site import site
from accounts.models import User
from filestore.models import StoredFile, Upload


@admin.display(description="storage used", ordering="_storage_used")
def storage_used(obj) -> str:
    used = getattr(obj, "_storage_used", None)
    if used is None:
        used = StoredFile.objects.bytes_used_by(obj)
    return filesizeformat(used)


def _add_storage_column() -> None:
    try:
        user_admin = site.get_model_admin(User)
    except NotRegistered:
        return
    if storage_used in user_admin.list_display:
        return
    user_admin.list_display = (*user_admin.list_display, storage_used)
    original = user_admin.get_queryset

    def get_queryset(request):
        used = (StoredFile.objects.filter(uploader=OuterRef("pk"),
                                          state=StoredFile.State.STORED)
                .values("uploader").annotate(total=Sum("size")).values("total"))
        return original(request).annotate(_storage_used=Coalesce(Subquery(used), 0))

    user_admin.get_queryset = get_queryset


_add_storage_column()


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StoredFile, site=site)
class StoredFileAdmin(ReadOnlyAdmin):
    list_display = ("message_id", "uploader", "size", "state", "created_at")
    list_filter = ("state",)
    fields = ("message", "uploader", "size", "ciphertext_size", "state", "created_at")
    readonly_fields = fields


@admin.register(Upload, site=site)
class UploadAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "length", "offset", "state", "expires_at")
    list_filter = ("state",)
    fields = ("id", "user", "conversation", "length", "offset", "state", "void_reason",
              "created_at", "expires_at", "completed_at", "lease_owner", "lease_expires")
    readonly_fields = fields
