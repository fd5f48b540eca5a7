"""``manage.py usage_stats [--json] [--top N]``: users, conversations, messages, storage.

Counts and sizes only (``filestore.usage``): no message, file name or key.
"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat

from filestore.usage import usage_stats


class Command(BaseCommand):
    help = ("Print usage statistics: users (active, verified, with 2FA), conversations, "
            "messages (total, last 24 h and 7 days), files and bytes stored, top storage users.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        parser.add_argument("--top", type=int, default=10, metavar="N",
                            help="how many users to list by storage used (default 10)")

    def handle(self, *args, as_json=False, top=10, **options):
        if not 0 <= top <= 1000:
            raise CommandError("--top must be between 0 and 1000.")
        stats = usage_stats(top=top)
        if as_json:
            self.stdout.write(json.dumps(stats, indent=2, sort_keys=True))
            return
        for section in ("users", "conversations", "messages", "files"):
            values = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in stats[section].items())
            self.stdout.write(f"{section}: {values}")
        self.stdout.write(f"stored: {filesizeformat(stats['files']['bytes'])}")
        if stats["top_storage"]:
            self.stdout.write("top storage:")
        for row in stats["top_storage"]:
            who = row["email"] or f"(deleted user {row['user_id']})"
            self.stdout.write(f"  {who} (id {row['user_id']}): {row['files']} file(s), "
                              f"{row['bytes']} bytes")

