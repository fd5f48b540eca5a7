"""Conversations and messages in the operator's admin (OTP site): metadata only.

Shown: members (by email), their state, counts, sizes, times, expiry. Never
shown: a message body, its signature or file digest, the recipients'
fingerprints, contact pins: content exists only as age files and the admin
has no key to open them, and the bytes themselves are left out too.

Everything is read only (no add, change or delete): unsending, expiry and
leaving go through ``messaging.actions`` with their tombstones and pushes.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce, Length
from django.template.defaultfilters import filesizeformat

from accounts.admin_site import ReadOnly, site
from messaging.models import Conversation, Membership, Message


class MembershipInline(ReadOnly, admin.TabularInline):
    model = Membership
    fields = ("user", "state", "joined_at", "left_seq", "last_read_seq", "hidden")
    readonly_fields = fields
    extra = 0
    can_delete = False


def _per_conversation(queryset, value):
    return Coalesce(Subquery(queryset.filter(conversation=OuterRef("pk"))
                             .values("conversation").annotate(v=value).values("v"),
                             output_field=IntegerField()), 0)


@admin.register(Conversation, site=site)
class ConversationAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "member_emails", "member_count", "message_count", "file_count",
                    "file_bytes", "last_seq", "last_activity_at", "expiry", "created_at")
    list_filter = (("expiry_seconds", admin.EmptyFieldListFilter),)
    search_fields = ("memberships__user__email",)
    ordering = ("-last_activity_at",)
    fields = ("id", "member_emails", "created_by", "created_at", "direct", "last_seq",
              "message_count", "file_count", "file_bytes", "last_activity_at", "expiry")
    readonly_fields = fields
    inlines = (MembershipInline,)

    def get_queryset(self, request):
        alive_files = Message.objects.alive().filter(kind=Message.FILE)
        return super().get_queryset(request).prefetch_related("memberships__user").annotate(
            _members=_per_conversation(Membership.objects.all(), Count("pk")),
            _messages=_per_conversation(Message.objects.all(), Count("pk")),
            _files=_per_conversation(alive_files, Count("pk")),
            _file_bytes=_per_conversation(alive_files, Sum("file_size")),
        )

    @admin.display(description="members")
    def member_emails(self, obj):
        return ", ".join(sorted(m.user.email for m in obj.memberships.all()))

    @admin.display(description="member count", ordering="_members")
    def member_count(self, obj):
        return obj._members

    @admin.display(description="messages (incl. deleted)", ordering="_messages")
    def message_count(self, obj):
        return obj._messages

    @admin.display(description="files", ordering="_files")
    def file_count(self, obj):
        return obj._files

    @admin.display(description="file sizes", ordering="_file_bytes")
    def file_bytes(self, obj):
        return filesizeformat(obj._file_bytes)

    @admin.display(description="direct", boolean=True)
    def direct(self, obj):
        return bool(obj.direct_key)

    @admin.display(description="expiry", ordering="expiry_seconds")
    def expiry(self, obj):
        if obj.expiry_seconds is None:
            return "none"
        return f"{obj.expiry_seconds} s after sending"


@admin.register(Message, site=site)
class MessageAdmin(ReadOnly, admin.ModelAdmin):
    """Message rows without body, signature, digest or fingerprints."""

    list_display = ("id", "conversation_id", "seq", "sender", "kind", "size", "sent_at",
                    "deleted")
    list_filter = ("kind", ("deleted_at", admin.EmptyFieldListFilter))
    list_select_related = ("sender",)
    search_fields = ("sender__email",)
    ordering = ("-sent_at",)
    fields = ("id", "conversation", "seq", "sender", "sender_generation", "kind", "size",
              "sent_at", "deleted", "deleted_at")
    readonly_fields = fields
    show_full_result_count = False

    def get_queryset(self, request):
        return (super().get_queryset(request)
                .defer("body", "signature", "file_digest", "recipient_fingerprints")
                .annotate(_stored=Length("body")))

    @admin.display(description="size")
    def size(self, obj):
        """A file's plaintext size; for a text, the size of its stored age file."""
        if obj.kind == Message.FILE and obj.file_size is not None:
            return filesizeformat(obj.file_size)
        stored = getattr(obj, "_stored", None)
        return f"{filesizeformat(stored)} stored" if stored else "—"

    @admin.display(description="deleted", boolean=True)
    def deleted(self, obj):
        return obj.deleted_at is not None

