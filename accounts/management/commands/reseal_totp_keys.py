"""``manage.py reseal_totp_keys [--yes]``: seal every TOTP seed under the current key."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts import actions


class Command(BaseCommand):
    help = (
        "Re-seal TOTP seeds under SECURECHAT_TOTP_KEY: rows sealed under a key of "
        "SECURECHAT_TOTP_OLD_KEYS and rows from before sealing (plain hex). Prints what it "
        "would do unless --yes. Afterwards the old key can leave SECURECHAT_TOTP_OLD_KEYS. "
        "A row that no configured key opens is reported and left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("--yes", action="store_true", help="re-seal (default: dry run)")

    def handle(self, *args, yes, **options):
        result = actions.do_reseal_totp_keys(dry_run=not yes)
        verb = "Re-sealed" if yes else "Would re-seal"
        self.stdout.write(f"{verb} {result.resealed} TOTP seed(s); {result.current} already "
                          f"under the current key.")
        if not yes and result.resealed:
            self.stdout.write("Dry run: nothing changed. Run again with --yes.")
        if result.unreadable:
            raise CommandError(f"{len(result.unreadable)} device(s) open with no configured key "
                               f"(ids {', '.join(map(str, result.unreadable))}): add the key "
                               "they were sealed under to SECURECHAT_TOTP_OLD_KEYS.")
