"""``createsuperuser`` is refused: such an account would have no keys and no second
factor, so it could never log in. ``createadmin`` makes an administrator."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

MESSAGE = ("createsuperuser is not supported by SecureChat: an account made here would have "
           "no keys and no second factor, so it could never log in. Use "
           "\"manage.py createadmin EMAIL\" (or \"securechat-manage createadmin EMAIL\"): it "
           "prints a signup link, and the account becomes an administrator once its "
           "authenticator app is confirmed.")


class Command(BaseCommand):
    help = "Refused: use createadmin EMAIL instead (see docs/operations.md, First administrator)."

    def add_arguments(self, parser):
        # Accept whatever Django's createsuperuser accepts, to refuse it with the message.
        parser.add_argument("args", nargs="*")
        parser.add_argument("--email")
        parser.add_argument("--username")
        parser.add_argument("--noinput", "--no-input", action="store_true")
        parser.add_argument("--database")

    def handle(self, *args, **options):
        raise CommandError(MESSAGE)
