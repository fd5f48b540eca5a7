"""``manage.py purge_uploads [--yes]``: delete incomplete uploads past their expiry, and
complete uploads no message claimed within the upload expiry after completion.

Dry run unless ``--yes``: prints how many uploads (and reserved bytes) would
go. Never prints names or contents (there are none on the server).
"""

from django.core.management.base import BaseCommand

from filestore.actions import do_purge_stale


class Command(BaseCommand):
    help = ("Delete incomplete uploads past their expiry and complete ones no message claimed "
            "(dry run without --yes).")

    def add_arguments(self, parser):
        parser.add_argument("--yes", action="store_true", help="really delete")

    def handle(self, *args, yes=False, **options):
        uploads, reserved = do_purge_stale(dry_run=not yes)
        if yes:
            self.stdout.write(f"Deleted {uploads} stale upload(s) ({uploads} blob(s), "
                              f"{reserved} bytes reserved).")
        else:
            self.stdout.write(f"Would delete {uploads} stale upload(s) ({reserved} bytes "
                              "reserved). Run with --yes.")
