"""The flush that ends every ``transactional_db`` test, without re-running post_migrate.

Django's ``TransactionTestCase`` (which pytest-django's ``transactional_db`` uses) empties
every table after the test and then sends ``post_migrate``, so that contenttypes and auth
write their rows again: about 150 queries, 0.1–0.3 s per test on this machine, for the
~800 transactional tests of the suite. Those rows are the same every time. ``install()``
makes the first flush of the run do exactly that and record what ``post_migrate`` wrote;
later flushes empty the tables the same way and put the recorded rows back in one
transaction. A test starts from the same database as before (the same content types and
permissions, every other table empty); only their ids no longer grow from test to test,
so a live server that outlives a test (a module-scoped one) keeps valid cached ids.

Test cases that flush a subset of the apps (``available_apps``) or restore serialized
data keep Django's own teardown. tests/securechat/test_flush.py checks that the rows put
back are what ``post_migrate`` writes.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management import call_command
from django.db import transaction
from django.test import TransactionTestCase

# database alias -> [(model, [row values])] of the tables post_migrate fills
_recorded: dict[str, list[tuple[type, list[dict]]]] = {}


def flush(db_name: str, *, post_migrate: bool) -> None:
    """Django's flush as ``TransactionTestCase`` runs it (sequences kept)."""
    call_command("flush", verbosity=0, interactive=False, database=db_name,
                 reset_sequences=False, allow_cascade=False,
                 inhibit_post_migrate=not post_migrate)


def filled_tables(db_name: str) -> list[tuple[type, list[dict]]]:
    """Every non-empty table of the installed models: (model, rows as field values)."""
    tables = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy or not model._meta.managed:
            continue
        fields = [field.attname for field in model._meta.concrete_fields]
        rows = list(model._base_manager.using(db_name).values(*fields))
        if rows:
            tables.append((model, rows))
    return tables


def put_back(db_name: str, tables: list[tuple[type, list[dict]]]) -> None:
    """Inserts the recorded rows (foreign keys are checked at commit, so in any order)."""
    from django.contrib.contenttypes.models import ContentType

    with transaction.atomic(using=db_name):
        for model, rows in tables:
            model._base_manager.using(db_name).bulk_create([model(**row) for row in rows])
    ContentType.objects.clear_cache()  # as post_migrate's create_contenttypes does


def empty_database(db_name: str) -> None:
    """Flushes ``db_name``: with post_migrate the first time (recording what it wrote),
    then without, putting the recorded rows back."""
    if db_name not in _recorded:
        flush(db_name, post_migrate=True)
        _recorded[db_name] = filled_tables(db_name)
    else:
        flush(db_name, post_migrate=False)
        put_back(db_name, _recorded[db_name])


def _fixture_teardown(self) -> None:
    if self.available_apps is not None or self.serialized_rollback:
        return _django_fixture_teardown(self)
    for db_name in self._databases_names(include_mirrors=False):
        empty_database(db_name)
    return None


_django_fixture_teardown = TransactionTestCase._fixture_teardown


def install() -> None:
    """Replaces ``TransactionTestCase._fixture_teardown`` for this test run."""
    TransactionTestCase._fixture_teardown = _fixture_teardown
