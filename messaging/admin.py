"""Conversations and messages in the operator's admin (OTP site): metadata only.

Shown: kind, members (by email), counts, sizes, seqs, times, expiry. Never shown:
a message's box, its signed statement or signature, an epoch envelope, a membership
operation's bytes: content exists only as ciphertext sealed on the clients, the
server has no key to open it, and the bytes themselves are left out too.

Everything is read only (no add, change or delete): removals, unsends and expiry
are signed by clients (``messaging.v2``) or run by the purge, with their tombstones
and pushes.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce, Length
from django.template.defaultfilters import filesizeformat

from accounts.admin_site import ReadOnly, site
from messaging.models import ConversationV2, MemberV2, MessageV2


class MemberInline(ReadOnly, admin.TabularInline):
    model = MemberV2
    fields = ("user", "joined_seq", "last_read_seq")
    readonly_fields = fields
    extra = 0
    can_delete = False


def _per_conversation(queryset, value):
    return Coalesce(Subquery(queryset.filter(conversation=OuterRef("pk"))
                             .values("conversation").annotate(v=value).values("v"),
                             output_field=IntegerField()), 0)


@admin.register(ConversationV2, site=site)
class ConversationAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "kind", "member_emails", "member_count", "message_count",
                    "last_seq", "last_activity_at", "expiry", "created_at")
    list_filter = ("kind",)
    search_fields = ("members__user__email",)
    ordering = ("-last_activity_at",)
    fields = ("id", "kind", "member_emails", "created_by", "created_at", "last_seq",
              "epoch_number", "message_count", "last_activity_at", "expiry")
    readonly_fields = fields
    inlines = (MemberInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("members__user").annotate(
            _members=_per_conversation(MemberV2.objects.all(), Count("pk")),
            _messages=_per_conversation(MessageV2.objects.all(), Count("pk")),
        )

    @admin.display(description="members")
    def member_emails(self, obj):
        return ", ".join(sorted(m.user.email for m in obj.members.all()))

    @admin.display(description="member count", ordering="_members")
    def member_count(self, obj):
        return obj._members

    @admin.display(description="messages (incl. removed)", ordering="_messages")
    def message_count(self, obj):
        return obj._messages

    @admin.display(description="expiry", ordering="expiry_seconds")
    def expiry(self, obj):
        if not obj.expiry_seconds:
            return "none"
        return f"{obj.expiry_seconds} s after sending"


@admin.register(MessageV2, site=site)
class MessageAdmin(ReadOnly, admin.ModelAdmin):
    """Message rows without box, statement or signature: who, where, when, how big."""

    list_display = ("id", "conversation_id", "seq", "sender", "epoch_number", "size",
                    "server_time", "removed")
    list_filter = (("removed_at", admin.EmptyFieldListFilter),)
    list_select_related = ("sender",)
    search_fields = ("sender__email",)
    ordering = ("-server_time",)
    fields = ("id", "conversation", "seq", "sender", "epoch_number", "size", "server_time",
              "removed", "removed_at", "removed_reason")
    readonly_fields = fields
    show_full_result_count = False

    def get_queryset(self, request):
        return (super().get_queryset(request)
                .defer("box", "statement", "signature", "client_message_id", "device_id",
                       "message_hash")
                .annotate(_stored=Length("box")))

    @admin.display(description="size")
    def size(self, obj):
        """The size of the stored box (padded ciphertext; a tombstone has none)."""
        stored = getattr(obj, "_stored", None)
        return f"{filesizeformat(stored)} stored" if stored else "—"

    @admin.display(description="removed", boolean=True)
    def removed(self, obj):
        return obj.removed_at is not None
