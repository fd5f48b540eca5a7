"""System checks of accounts.

``securechat.E001``: the deployment-wide key type (``SECURECHAT_KEY_TYPE``) is
fixed before the first user signs up (DESIGN.md §3). Once users have current
keys of one type, a different setting would create new generations of the
other type and mix post-quantum and classic recipients, so the check reports
an error. It reads the database, so it runs with ``manage.py check --database
default`` (also combined with ``--deploy``), and whenever Django runs the
database checks (the test runner, ``migrate``); a plain ``manage.py check``
does not touch the database and skips it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import DatabaseError
from django.db.models import Count


def key_type_errors(alias: str) -> list[Error]:
    from accounts.models import KeyGeneration

    configured = settings.SECURECHAT_KEY_TYPE
    try:
        others = list(KeyGeneration.objects.using(alias).current()
                      .exclude(key_type=configured).values("key_type")
                      .annotate(users=Count("user", distinct=True)).order_by("key_type"))
    except DatabaseError:
        return []  # not migrated yet (or unreachable): nothing to compare with
    return [
        Error(
            f"SECURECHAT_KEY_TYPE is {configured!r} but {row['users']} user(s) in database "
            f"{alias!r} have current {row['key_type']!r} keys.",
            hint=f"The key type is fixed before the first user signs up: set "
                 f"SECURECHAT_KEY_TYPE={row['key_type']} again. Moving existing users to "
                 "another key type is not supported yet.",
            obj="settings.SECURECHAT_KEY_TYPE",
            id="securechat.E001",
        )
        for row in others
    ]


@register(Tags.database)
def check_key_type(app_configs=None, databases=None, **kwargs):
    return [error for alias in (databases or []) for error in key_type_errors(alias)]
