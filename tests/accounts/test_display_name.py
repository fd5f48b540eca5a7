"""Display names (DESIGN.md §4, issue 15 "People"): plain metadata a user sets and
contacts see instead of the address. Bad names are refused with the field named and
change nothing; the name reaches the directory and every conversation's key list."""

from __future__ import annotations

import json

import pytest

from accounts.models import User
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.accounts import login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]


def put_name(client, value):
    return client.put("/api/v1/me/display-name", json.dumps({"display_name": value}),
                      content_type="application/json")


def stored_name(test_user) -> str:
    return User.objects.get(pk=test_user.user.pk).display_name


def test_a_name_is_cleaned_stored_and_shown_in_me_and_the_directory():
    alice, bob = make_user(), make_user()
    client = login_client(alice)
    answer = put_name(client, "  Alice \t Liddell  ")
    assert answer.status_code == 200 and answer.json() == {"display_name": "Alice Liddell"}
    assert stored_name(alice) == "Alice Liddell"
    assert client.get("/api/v1/me").json()["display_name"] == "Alice Liddell"
    entry = login_client(bob).get(f"/api/v1/directory?email={alice.email}").json()
    assert entry["display_name"] == "Alice Liddell" and entry["email"] == alice.email


def test_an_empty_name_clears_it():
    alice = make_user()
    client = login_client(alice)
    put_name(client, "Alice")
    assert put_name(client, "   ").json() == {"display_name": ""}
    assert stored_name(alice) == ""


@pytest.mark.parametrize("value, says", [
    ("x" * 65, "at most 64"),
    ("evil\u202etxt.exe", "control or invisible"),
    ("zero\u200bwidth", "control or invisible"),
    ("tab\x00nul", "control or invisible"),
    (42, "must be text"),
    (None, "must be text"),
])
def test_a_bad_name_is_refused_with_its_field_and_changes_nothing(value, says):
    alice = make_user()
    client = login_client(alice)
    put_name(client, "Before")
    answer = put_name(client, value)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_display_name" and body["field"] == "display_name"
    assert says in body["detail"]
    assert stored_name(alice) == "Before"


def test_a_64_character_name_in_another_script_is_accepted_in_nfc():
    alice = make_user()
    decomposed = "e\u0301" * 64  # 128 code points, 64 once composed
    answer = put_name(login_client(alice), decomposed)
    assert answer.status_code == 200 and stored_name(alice) == "\u00e9" * 64


def test_setting_a_name_needs_a_complete_login():
    alice = make_user()
    assert put_name(login_client(alice, stage="otp"), "Alice").status_code in (401, 403)
    assert stored_name(alice) == ""
