"""``manage.py verify_storage [--json] [--grace SECONDS] [--files-only] [--deep]``.

Checks every blob on disk and every age file in the database without any key
(``filestore.verification``): each parses as age, sizes match the records,
orphans (files no row refers to) and missing blobs (rows without their file)
are listed. ``--deep`` also hashes every complete blob against the
SHA-256 recorded while it was uploaded (bit rot). Exits 1 when anything is
wrong, 0 otherwise. Reads only.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from filestore.verification import verify_storage


class Command(BaseCommand):
    help = ("Check that every stored blob parses as age, sizes match the database, and list "
            "orphaned and missing blobs. Exits 1 on any problem.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="print the report as JSON")
        parser.add_argument("--grace", type=float, default=60, metavar="SECONDS",
                            help="skip unreferenced files younger than this (an upload being "
                                 "created); default 60")
        parser.add_argument("--files-only", action="store_true",
                            help="skip the age files kept in database columns")
        parser.add_argument("--deep", action="store_true",
                            help="hash every complete blob against the SHA-256 recorded at upload "
                                 "(reads every byte)")

    def handle(self, *args, as_json=False, grace=60, files_only=False, deep=False, **options):
        if grace < 0:
            raise CommandError("--grace must not be negative.")
        report = verify_storage(grace=grace, database=not files_only, deep=deep)
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, sort_keys=True))
        else:
            self.stdout.write(
                f"Checked {report.stored_files} stored file(s)"
                + (f" ({report.hashed} hashed)" if deep else "")
                + f", {report.uploads} upload(s) in progress, {report.database_blobs} "
                f"database blob(s); {report.disk_files} file(s), {report.disk_bytes} bytes on disk"
                + (f" ({report.recent_skipped} too recent to judge)"
                   if report.recent_skipped else "") + ".")
            for problem in report.problems:
                self.stdout.write(f"{problem.kind}: {problem.where}: {problem.detail}")
        if not report.ok:
            raise CommandError(f"{len(report.problems)} problem(s) found.", returncode=1)
        if not as_json:
            self.stdout.write(self.style.SUCCESS("No problems found."))

