"""``manage.py version`` (routed here by manage.py): the SecureChat version of this checkout."""

from django.core.management.base import BaseCommand

import securechat


class Command(BaseCommand):
    help = "Print the SecureChat version (securechat.__version__; see CHANGELOG.md)."

    def handle(self, *args, **options):
        self.stdout.write(securechat.__version__)
