"""Files in the operator's admin (OTP site): metadata only, never names or content.

- The accounts User admin gains a "storage used" column (stored files'
  plaintext sizes; sizes are metadata stored in the clear, DESIGN.md §3).
- Stored files and uploads are listed read-only (no add, change or delete):
  ids, conversation, uploader, sizes, states and times. Names and types exist
  only encrypted (the message body, the upload's metadata blob) and are not
  loaded, let alone shown.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.template.defaultfilters import filesizeformat

from accounts.admin_site import ReadOnly, site
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
    if storage_used not in user_admin.readonly_fields:
        user_admin.fields = (*user_admin.fields, storage_used)
        user_admin.readonly_fields = (*user_admin.readonly_fields, storage_used)
    original = user_admin.get_queryset

    def get_queryset(request):
        used = (StoredFile.objects.filter(uploader=OuterRef("pk"),
                                          state=StoredFile.State.STORED)
                .values("uploader").annotate(total=Sum("size")).values("total"))
        return original(request).annotate(_storage_used=Coalesce(Subquery(used), 0))

    user_admin.get_queryset = get_queryset


_add_storage_column()


# Read only: a row deleted here would strand its blob (purges and account deletion
# go through the actions, which delete both).
@admin.register(StoredFile, site=site)
class StoredFileAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("message_id", "conversation", "uploader", "size", "ciphertext_size",
                    "state", "created_at")
    list_filter = ("state",)
    list_select_related = ("uploader", "message")
    search_fields = ("uploader__email",)
    date_hierarchy = "created_at"
    fields = ("message", "conversation", "uploader", "size", "ciphertext_size", "state",
              "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer(
            "file_digest", "message__body", "message__signature", "message__file_digest",
            "message__recipient_fingerprints")

    @admin.display(description="conversation", ordering="message__conversation_id")
    def conversation(self, obj):
        return obj.message.conversation_id


@admin.register(Upload, site=site)
class UploadAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "user", "conversation_id", "length", "offset", "state", "expires_at")
    list_filter = ("state",)
    list_select_related = ("user",)
    search_fields = ("user__email",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("metadata_blob")

    fields = ("id", "user", "conversation", "length", "offset", "state", "void_reason",
              "created_at", "expires_at", "completed_at", "lease_owner", "lease_expires")
    readonly_fields = fields
