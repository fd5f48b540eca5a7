"""Files in the operator's admin (OTP site): metadata only, never names or content.

- The accounts User admin gains a "storage used" column (the lengths of the
  user's complete uploads: sizes are metadata stored in the clear, DESIGN.md §1).
- Uploads are listed read-only (no add, change or delete): id, uploader,
  length, recorded offset, state, times and how many messages name each.
  The server has no name or type to show: they travel encrypted inside the
  file messages, and the blob is an age file to a key only clients hold.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.template.defaultfilters import filesizeformat

from accounts.admin_site import ReadOnly, site
from accounts.models import User
from filestore.models import CipherUpload


def bytes_stored_by(user) -> int:
    """The lengths of the user's complete uploads (age files as stored)."""
    return int(CipherUpload.objects.filter(user=user, state=CipherUpload.State.COMPLETE)
               .aggregate(s=Sum("length"))["s"] or 0)


@admin.display(description="storage used", ordering="_storage_used")
def storage_used(obj) -> str:
    used = getattr(obj, "_storage_used", None)
    if used is None:
        used = bytes_stored_by(obj)
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
        used = (CipherUpload.objects.filter(user=OuterRef("pk"),
                                            state=CipherUpload.State.COMPLETE)
                .values("user").annotate(total=Sum("length")).values("total"))
        return original(request).annotate(_storage_used=Coalesce(Subquery(used), 0))

    user_admin.get_queryset = get_queryset


_add_storage_column()


# Read only: a row deleted here would strand its blob (purges, unsends and account
# deletion go through the actions and references, which delete both).
@admin.register(CipherUpload, site=site)
class UploadAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "user", "length", "offset", "state", "messages", "created_at",
                    "expires_at")
    list_filter = ("state",)
    list_select_related = ("user",)
    search_fields = ("user__email",)
    date_hierarchy = "created_at"
    fields = ("id", "user", "length", "offset", "state", "messages", "created_at",
              "expires_at", "completed_at", "lease_owner", "lease_expires")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_messages=Count("references"))

    @admin.display(description="messages naming it", ordering="_messages")
    def messages(self, obj):
        return obj._messages
