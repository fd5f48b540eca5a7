"""The API's contract over the whole URL table (docs/api.md, "Errors").

Every route is found by walking the resolver, so a new endpoint is covered
without editing this file:
- every JSON endpoint (decorated with ``accounts.api.api_view``) refuses a body
  that is not sent as ``application/json``, and a body with a field it does
  not declare, with the documented 400 naming the field;
- every route, pages included, answers a method it does not serve with the
  JSON 405 and an ``Allow`` header.
Each refusal changes nothing: the caller stays logged in and no row is added.
"""

from __future__ import annotations

import json

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.api import BODY_METHODS
from accounts.models import AuditEvent, LoginSession, User
from tests.support.accounts import login_client, make_user

pytestmark = pytest.mark.django_db(transaction=True)

SKIPPED_PREFIXES = ("admin/",)  # Django's admin answers by its own rules
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
UNKNOWN = "zz_not_a_field"


def walk(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry.callback


def concrete(route: str) -> str:
    """The route with each converter filled in (``<int:x>`` → 1, anything else → "x")."""
    out, rest = "", route
    while "<" in rest:
        head, _, tail = rest.partition("<")
        converter, _, rest = tail.partition(">")
        out += head + ("1" if converter.startswith("int:") else "x")
    return "/" + out + rest


def routes():
    found = [(concrete(route), view) for route, view in walk(get_resolver().url_patterns)
             if not route.startswith(SKIPPED_PREFIXES) and "_bench" not in route]
    assert len(found) > 50, "the URL table walk found too few routes"
    return found


ALL_ROUTES = routes()
JSON_ROUTES = [(path, view) for path, view in ALL_ROUTES if hasattr(view, "api_methods")]


def body_methods(view):
    return [m for m in view.api_methods if m in BODY_METHODS]


def send(client, method, path, body, content_type):
    return client.generic(method, path, body, content_type=content_type)


@pytest.fixture
def alice_client():
    return login_client(make_user())


def unchanged_snapshot():
    return (User.objects.count(), AuditEvent.objects.count(),
            LoginSession.objects.filter(ended_at__isnull=True).count())


def test_the_walk_finds_json_endpoints_and_pages():
    assert len(JSON_ROUTES) >= 30
    assert any(path == "/api/v1/auth/login" for path, _ in JSON_ROUTES)
    assert any(path == "/logout/" for path, _ in ALL_ROUTES)  # a page (signup and login: the shell)


@pytest.mark.parametrize("path,view", [(p, v) for p, v in JSON_ROUTES if body_methods(v)],
                         ids=lambda x: x if isinstance(x, str) else "")
def test_a_body_not_sent_as_json_is_a_clear_400(alice_client, path, view):
    for method in body_methods(view):
        before = unchanged_snapshot()
        r = send(alice_client, method, path, "email=a%40b.c", "application/x-www-form-urlencoded")
        assert r.status_code == 400, (method, path, r.content)
        assert r.json()["error"] == "bad_request"
        assert "application/json" in r.json()["detail"]
        assert unchanged_snapshot() == before
        assert alice_client.get("/api/v1/me").status_code == 200  # still logged in


@pytest.mark.parametrize("path,view", [(p, v) for p, v in JSON_ROUTES if body_methods(v)],
                         ids=lambda x: x if isinstance(x, str) else "")
def test_an_unknown_field_is_a_400_naming_it(alice_client, path, view):
    for method in body_methods(view):
        known = sorted(view.api_fields)
        body = {UNKNOWN: 1, **({known[0]: None} if known else {})}
        before = unchanged_snapshot()
        r = send(alice_client, method, path, json.dumps(body), "application/json")
        assert r.status_code == 400, (method, path, r.content)
        assert r.json()["error"] == "bad_request"
        assert r.json()["unknown_fields"] == [UNKNOWN]
        assert r.json()["field"] == UNKNOWN and UNKNOWN in r.json()["detail"]
        assert unchanged_snapshot() == before


@pytest.mark.parametrize("path,view", JSON_ROUTES, ids=lambda x: x if isinstance(x, str) else "")
def test_json_endpoints_answer_a_wrong_method_with_405_and_allow(alice_client, path, view):
    wrong = next(m for m in METHODS if m not in view.api_methods)
    r = send(alice_client, wrong, path, "", "application/json")
    assert r.status_code == 405, (wrong, path)
    assert r.json() == {"error": "method_not_allowed",
                        "detail": f"Use {' or '.join(view.api_methods)} here."}
    assert r["Allow"] == ", ".join(view.api_methods)


@pytest.mark.parametrize("path,view", [(p, v) for p, v in ALL_ROUTES if p not in dict(JSON_ROUTES)],
                         ids=lambda x: x if isinstance(x, str) else "")
def test_pages_answer_a_wrong_method_with_the_json_405_and_allow(alice_client, path, view):
    r = send(alice_client, "PUT", path, "", "text/plain")
    assert r.status_code == 405, (path, r.status_code)
    assert r.json()["error"] == "method_not_allowed"
    allowed = {m.strip() for m in r["Allow"].split(",")}
    assert allowed and "PUT" not in allowed
    assert r["Content-Type"].startswith("application/json")
