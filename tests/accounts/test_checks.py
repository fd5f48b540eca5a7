"""The key type is fixed before the first user (DESIGN.md §3): a system check
(``securechat.E001``) reports a SECURECHAT_KEY_TYPE that differs from the type of
existing current keys, through ``manage.py check --database default``.
"""

from __future__ import annotations

import pytest
from django.core.checks import Tags, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from django.utils import timezone

from accounts.models import KeyGeneration
from tests.support.accounts import make_user

pytestmark = pytest.mark.django_db


def e001(**kwargs) -> list:
    return [m for m in run_checks(**kwargs) if m.id == "securechat.E001"]


def test_no_users_no_error():
    with override_settings(SECURECHAT_KEY_TYPE="x25519"):
        assert e001(databases=["default"], tags=[Tags.database]) == []


def test_a_different_key_type_after_the_first_user_is_an_error():
    make_user()  # hybrid keys (the default)
    assert KeyGeneration.objects.current().get().key_type == "hybrid"
    assert e001(databases=["default"], tags=[Tags.database]) == []  # same type: fine

    with override_settings(SECURECHAT_KEY_TYPE="x25519"):
        (error,) = e001(databases=["default"], tags=[Tags.database])
        assert "'hybrid'" in error.msg and "1 user(s)" in error.msg
        assert "SECURECHAT_KEY_TYPE=hybrid" in error.hint
        with pytest.raises(SystemCheckError, match="securechat.E001"):
            call_command("check", "--database", "default")
        with pytest.raises(SystemCheckError, match="securechat.E001"):
            call_command("check", "--deploy", "--database", "default")
    call_command("check", "--database", "default")  # positive control: passes again


def test_only_current_generations_count():
    alice = make_user()
    KeyGeneration.objects.filter(user=alice.user).update(retired_at=timezone.now())
    with override_settings(SECURECHAT_KEY_TYPE="x25519"):
        assert e001(databases=["default"], tags=[Tags.database]) == []


def test_plain_check_does_not_read_the_database():
    make_user()
    with override_settings(SECURECHAT_KEY_TYPE="x25519"):
        call_command("check")
        with pytest.raises(SystemCheckError, match="securechat.E001"):  # control
            call_command("check", "--database", "default")
