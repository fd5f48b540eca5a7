"""The flush after each transactional test (tests/support/flush.py) leaves the database
Django's own flush leaves: every table empty but what post_migrate writes, and that."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from tests.support import flush

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.dbsensitive]


def contents() -> tuple[set, set, set]:
    """The filled tables, and the content types and permissions by natural key (their
    ids differ each time post_migrate runs)."""
    tables = {model._meta.label for model, _rows in flush.filled_tables("default")}
    types = set(ContentType.objects.values_list("app_label", "model"))
    permissions = set(Permission.objects.values_list(
        "content_type__app_label", "content_type__model", "codename", "name"))
    return tables, types, permissions


def test_the_rows_put_back_are_those_post_migrate_writes():
    flush.flush("default", post_migrate=True)
    written = contents()
    assert {"contenttypes.ContentType", "auth.Permission"} <= written[0]
    assert ("accounts", "user") in written[1]
    assert ("accounts", "user", "change_user", "Can change user") in written[2]
    flush.flush("default", post_migrate=False)
    assert contents() == (set(), set(), set())  # control: nothing comes back by itself

    ContentType.objects.create(app_label="stray", model="row")  # a test's own rows
    flush.empty_database("default")  # records, if no test flushed before
    flush.empty_database("default")  # puts the record back
    assert contents() == written
