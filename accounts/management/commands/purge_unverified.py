"""``manage.py purge_unverified [--yes]``: release addresses whose registration was never
verified within ``SECURECHAT_UNVERIFIED_RELEASE_DAYS``."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts import actions


class Command(BaseCommand):
    help = ("Delete accounts whose address is still unverified "
            "SECURECHAT_UNVERIFIED_RELEASE_DAYS "
            f"(now {settings.SECURECHAT_UNVERIFIED_RELEASE_DAYS}) days after signup, so the "
            "address can be registered by its owner. Staff accounts "
            "are never touched. Dry run unless --yes. Safe to run from a timer.")

    def add_arguments(self, parser):
        parser.add_argument("--yes", action="store_true",
                            help="really delete (without it, only print what would go)")

    def handle(self, *args, yes=False, **options):
        released = actions.do_release_unverified(dry_run=not yes)
        verb = "Released" if yes else "Would release"
        self.stdout.write(f"{verb} {len(released)} unverified registration(s).")
        for email in released:
            self.stdout.write(f"  {email}")
        if not yes and released:
            self.stdout.write("Nothing was changed; run with --yes to delete them.")
