"""``manage.py purge_uploads [--yes]``: delete expired incomplete and voided uploads, and
version 2 uploads completed at least the upload expiry ago that no message claims.

Dry run unless ``--yes``: prints how many uploads (and reserved bytes) would
go. Never prints names or contents (there are none in the clear).
"""

from django.core.management.base import BaseCommand

from filestore.actions import do_purge_stale_uploads
from filestore.cipher_actions import do_purge_stale


class Command(BaseCommand):
    help = "Delete incomplete uploads past their expiry and voided uploads (dry run without --yes)."

    def add_arguments(self, parser):
        parser.add_argument("--yes", action="store_true", help="really delete")

    def handle(self, *args, yes=False, **options):
        report = do_purge_stale_uploads(dry_run=not yes)
        v2_uploads, v2_bytes = do_purge_stale(dry_run=not yes)
        report.uploads += v2_uploads  # version 2 (ciphertext-mode) uploads count alike
        report.bytes_reserved += v2_bytes
        report.blobs_deleted += v2_uploads if yes else 0
        if yes:
            self.stdout.write(f"Deleted {report.uploads} stale upload(s) "
                              f"({report.blobs_deleted} blob(s), {report.bytes_reserved} bytes "
                              f"reserved).")
        else:
            self.stdout.write(f"Would delete {report.uploads} stale upload(s) "
                              f"({report.bytes_reserved} bytes reserved). Run with --yes.")
