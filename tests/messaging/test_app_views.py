"""The chat shell page and the contact-keys JSON it reads (messaging/app_views.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import KeyGeneration
from messaging.models import ContactPins
from tests.support.accounts import login_client, make_user
from tests.support.bundle import BUNDLE_DIR
from tests.support.live import REPO_ROOT


@pytest.mark.django_db
def test_anonymous_visitors_get_the_landing_page_and_deep_links_ask_for_a_login(client):
    """``/`` is the landing page without a login; ``/c/<id>/`` sends to the login page."""
    landing = client.get("/")
    assert landing.status_code == 200 and b'id="chat-app"' not in landing.content
    deep = client.get("/c/7/")
    assert deep.status_code == 302 and deep["Location"] == "/login/?next=/c/7/"


def test_the_shell_names_the_user_and_loads_only_same_origin_module_scripts(pair):
    """The logged-in shell carries the user id and the deep-linked conversation, and
    its scripts are files of the site (no inline script: the CSP forbids it)."""
    page = login_client(pair.alice).get(f"/c/{pair.conversation_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-user-id="{pair.alice.user.pk}"' in html
    assert f'data-initial-conversation="{pair.conversation_id}"' in html
    manifest = json.loads((BUNDLE_DIR / "manifest.json").read_text())["entries"]
    app, tus = manifest["chat/app"], manifest["vendor/tus"]
    assert (f'<script type="module" src="/static/dist/{app["file"]}" '
            f'integrity="{app["integrity"]}" crossorigin="anonymous"></script>') in html
    assert (f'<script src="/static/dist/{tus["file"]}" integrity="{tus["integrity"]}" '
            'crossorigin="anonymous" defer></script>') in html
    assert "script-src 'self'" in page["Content-Security-Policy"]


def test_tus_js_client_is_served_from_the_site(pair):
    """tus-js-client comes from node_modules, copied into the pinned bundle directory
    (only its source-map comment dropped, which collectstatic would rewrite) and served
    from the site, not a CDN."""
    from django.contrib.staticfiles import finders

    tus = json.loads((BUNDLE_DIR / "manifest.json").read_text())["entries"]["vendor/tus"]
    path = finders.find(f"dist/{tus['file']}")
    npm_copy = REPO_ROOT / "node_modules" / "tus-js-client" / "dist" / "tus.min.js"
    original = npm_copy.read_bytes()
    assert original.endswith(b"\n//# sourceMappingURL=tus.min.js.map")
    assert path and Path(path).read_bytes() == original.rsplit(b"\n//#", 1)[0] + b"\n"


def test_contact_keys_show_pinned_and_directory_fingerprints(pair):
    """Alice sees Bob's fingerprint, pinned on first use and equal to the directory's."""
    response = login_client(pair.alice).get(f"/api/v1/conversations/{pair.conversation_id}/keys")
    assert response.status_code == 200
    body = response.json()
    expected = KeyGeneration.objects.current().get(user=pair.bob.user).directory_fingerprint
    assert body["contacts"] == [{
        "id": pair.bob.user.pk, "email": pair.bob.email, "state": "ok",
        "pinned_fingerprint": expected, "directory_fingerprint": expected, "notice": None,
    }]
    assert ContactPins.objects.filter(user=pair.alice.user).exists()  # pinned on first use


def test_contact_keys_refuse_bad_requests_with_json_errors(pair):
    """Not logged in: 401; another's conversation or a missing one: 404; POST: 405.
    None of them pins anything."""
    path = f"/api/v1/conversations/{pair.conversation_id}/keys"
    anonymous = Client().get(path)
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "not_logged_in")
    stranger = login_client(make_user())
    for target in (path, "/api/v1/conversations/999999/keys"):
        response = stranger.get(target)
        assert (response.status_code, response.json()["error"]) == (404, "not_found")
    posted = login_client(pair.alice).post(path, json.dumps({}), content_type="application/json")
    assert (posted.status_code, posted.json()["error"]) == (405, "method_not_allowed")
    assert not ContactPins.objects.exists()
