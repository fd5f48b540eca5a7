"""Usage statistics behind ``manage.py usage_stats`` (reads only; counts, never content).

Everything here is metadata the database holds in the clear anyway (who has an
account, how many messages when, file sizes; DESIGN.md §1): no body, no file
name, no key. A "file message" is a message whose signed file claim names an
upload (a ``FileReference``); what any other message says only its members know.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import LoginSession, User
from filestore.models import CipherUpload, FileReference
from messaging.models import ConversationV2, MessageV2

ACTIVE_DAYS = 30


def _sum(queryset, field_name: str) -> int:
    return int(queryset.aggregate(s=Sum(field_name))["s"] or 0)


def _users(month) -> dict:
    users = User.objects.all()
    recently_seen = LoginSession.objects.filter(user=OuterRef("pk"), last_seen_at__gte=month)
    with_totp = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    return {
        "total": users.count(),
        "active": users.filter(is_active=True).count(),
        "deactivated": users.filter(is_active=False).count(),
        "verified": users.filter(email_verified_at__isnull=False).count(),
        "with_2fa": users.filter(Exists(with_totp)).count(),
        f"seen_last_{ACTIVE_DAYS}_days": users.filter(
            Q(last_login__gte=month) | Exists(recently_seen)).count(),
    }


def _messages(day, week) -> dict:
    messages = MessageV2.objects.all()
    with_file = FileReference.objects.filter(message=OuterRef("pk"))
    return {
        "total": messages.count(),
        "file": messages.filter(Exists(with_file)).count(),
        "deleted": messages.filter(removed_at__isnull=False).count(),
        "last_24_hours": messages.filter(server_time__gte=day).count(),
        "last_7_days": messages.filter(server_time__gte=week).count(),
    }


def usage_stats(now: datetime | None = None, *, top: int = 10) -> dict:
    """A JSON-ready summary: users, conversations, messages, files, top storage users."""
    now = now or timezone.now()
    day, week, month = (now - timedelta(days=1), now - timedelta(days=7),
                        now - timedelta(days=ACTIVE_DAYS))
    stored = CipherUpload.objects.filter(state=CipherUpload.State.COMPLETE)
    uploading = CipherUpload.objects.filter(state=CipherUpload.State.UPLOADING)
    top_rows = (stored.values("user_id", "user__email")
                .annotate(files=Count("pk"), bytes=Sum("length"))
                .order_by("-bytes", "user_id")[:top])
    conversations = ConversationV2.objects.all()
    return {
        "generated_at": now.isoformat(),
        "users": _users(month),
        "conversations": {
            "total": conversations.count(),
            "with_expiry": conversations.filter(expiry_seconds__gt=0).count(),
            "active_last_7_days": conversations.filter(last_activity_at__gte=week).count(),
        },
        "messages": _messages(day, week),
        "files": {
            "stored": stored.count(),
            "bytes": _sum(stored, "length"),
            "uploads_in_progress": uploading.count(),
            "upload_bytes_reserved": _sum(uploading, "length"),
        },
        "top_storage": [
            {"user_id": row["user_id"], "email": row["user__email"],
             "files": row["files"], "bytes": int(row["bytes"] or 0)}
            for row in top_rows
        ],
    }
