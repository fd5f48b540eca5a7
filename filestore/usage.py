"""Usage statistics behind ``manage.py usage_stats`` (reads only; counts, never content).

Everything here is metadata the database holds in the clear anyway (who has an
account, how many messages when, file sizes; DESIGN.md §1): no body, no file
name, no key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import LoginSession, User
from filestore.models import StoredFile, Upload
from messaging.models import Conversation, Message

ACTIVE_DAYS = 30


def _sum(queryset, field_name: str) -> int:
    return int(queryset.aggregate(s=Sum(field_name))["s"] or 0)


def usage_stats(now: datetime | None = None, *, top: int = 10) -> dict:
    """A JSON-ready summary: users, conversations, messages, files, top storage users."""
    now = now or timezone.now()
    day, week, month = (now - timedelta(days=1), now - timedelta(days=7),
                        now - timedelta(days=ACTIVE_DAYS))
    users = User.objects.all()
    recently_seen = LoginSession.objects.filter(user=OuterRef("pk"), last_seen_at__gte=month)
    with_totp = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    messages = Message.objects.all()
    stored = StoredFile.objects.filter(state=StoredFile.State.STORED)
    uploading = Upload.objects.filter(state=Upload.State.UPLOADING)
    top_rows = (stored.values("uploader_id", "uploader__email")
                .annotate(files=Count("pk"), bytes=Sum("size"))
                .order_by("-bytes", "uploader_id")[:top])
    return {
        "generated_at": now.isoformat(),
        "users": {
            "total": users.count(),
            "active": users.filter(is_active=True).count(),
            "deactivated": users.filter(is_active=False).count(),
            "verified": users.filter(email_verified_at__isnull=False).count(),
            "with_2fa": users.filter(Exists(with_totp)).count(),
            f"seen_last_{ACTIVE_DAYS}_days": users.filter(
                Q(last_login__gte=month) | Exists(recently_seen)).count(),
        },
        "conversations": {
            "total": Conversation.objects.count(),
            "with_expiry": Conversation.objects.filter(expiry_seconds__isnull=False).count(),
            "active_last_7_days": Conversation.objects.filter(last_activity_at__gte=week).count(),
        },
        "messages": {
            "total": messages.count(),
            "text": messages.filter(kind=Message.TEXT).count(),
            "file": messages.filter(kind=Message.FILE).count(),
            "deleted": messages.filter(deleted_at__isnull=False).count(),
            "last_24_hours": messages.filter(sent_at__gte=day).count(),
            "last_7_days": messages.filter(sent_at__gte=week).count(),
        },
        "files": {
            "stored": stored.count(),
            "bytes": _sum(stored, "size"),
            "bytes_on_disk": _sum(stored, "ciphertext_size"),
            "uploads_in_progress": uploading.count(),
            "upload_bytes_reserved": _sum(uploading, "length"),
        },
        "top_storage": [
            {"user_id": row["uploader_id"], "email": row["uploader__email"],
             "files": row["files"], "bytes": int(row["bytes"] or 0)}
            for row in top_rows
        ],
    }
