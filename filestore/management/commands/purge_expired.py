"""``manage.py purge_expired [--yes]``: expired messages, their files, stale uploads.

Dry run unless ``--yes``: prints what would go. With ``--yes``, tombstones
messages older than their conversation's expiry (the ciphertext is deleted;
seq, sender and time stay), deletes the files no other message names (row and
blob), deletes incomplete uploads past their expiry and complete ones no
message claimed, and publishes the
version 2 resets without the recovery code whose hold ended
(``publish_held_resets``; the purge timer is the job that runs it). Safe to
run again (idempotent) and from a timer. Prints counts only, never content.
"""

from django.core.management.base import BaseCommand

from accounts.actions.heldreset import due_resets, publish_due_resets
from filestore.expiry import PurgeCounts, do_purge_expired, purge_plan


def describe(counts: PurgeCounts) -> str:
    return (f"{counts.messages} expired message(s), {counts.files} file(s) "
            f"({counts.file_bytes} bytes), {counts.uploads} stale upload(s) "
            f"({counts.upload_bytes} bytes reserved)")


class Command(BaseCommand):
    help = ("Delete expired messages (tombstones keep seq, sender and time), their files and "
            "stale uploads. Dry run unless --yes.")

    def add_arguments(self, parser):
        parser.add_argument("--yes", action="store_true",
                            help="really delete (without it, only print what would go)")

    def handle(self, *args, yes=False, **options):
        if not yes:
            self.stdout.write(f"Would delete {describe(purge_plan())} and publish "
                              f"{due_resets()} held reset(s). "
                              "Nothing was changed; run with --yes to delete.")
            return
        counts = do_purge_expired()
        self.stdout.write(self.style.SUCCESS(f"Deleted {describe(counts)}."))
        self.stdout.write(f"Published {publish_due_resets()} held reset(s).")
