"""``manage.py publish_held_resets``: publish the resets without the recovery code whose
hold (``SECURECHAT_RESET_HOLD`` hours) has ended. Run by the purge timer."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.actions.heldreset import publish_due_resets


class Command(BaseCommand):
    help = ("Publish every reset without the recovery code whose hold "
            f"(SECURECHAT_RESET_HOLD, now {settings.SECURECHAT_RESET_HOLD} hours) has ended: "
            "its new, unendorsed key generation and password take effect and the "
            "account's sessions end. Cancelled holds are skipped. Safe to run from a timer.")

    def handle(self, *args, **options):
        published = publish_due_resets()
        self.stdout.write(f"Published {published} held reset(s).")
