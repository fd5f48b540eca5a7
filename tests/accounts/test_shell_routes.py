"""The version 2 shell is the site (accounts/urls_v2.py): every page path renders the one
shell document, before any older route with the same path, also during a half login
(the shell shows the login's stages itself); /v2/ moved to / for good.
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client, override_settings

from accounts.urls_v2 import SHELL_PATHS
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.accounts.test_client_keys import Device

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

PATHS = ["/", "/login/", "/signup/", "/me/", "/password-reset/",
         "/password-reset/cancel/some-token", "/password-reset/MQ/abc-123/"]


def shell_config(response) -> dict:
    assert response.status_code == 200, response
    html = response.content.decode()
    assert 'id="v2-app"' in html
    found = re.search(r'<script id="v2-config" type="application/json">(.*?)</script>', html)
    return json.loads(found.group(1))


def test_every_shell_path_is_listed_and_renders_the_shell_with_its_route():
    assert len(PATHS) == len(SHELL_PATHS)
    names = [name for _, name in SHELL_PATHS]
    for path, name in zip(PATHS, names, strict=True):
        assert shell_config(Client().get(path))["route"] == name
    assert Client().get("/no/such/page/").status_code == 404


def test_the_shell_tells_the_chat_the_websocket_heartbeat():
    """The chat takes a connection silent for 2.5 heartbeats as dead (socket.js)."""
    from django.conf import settings

    config = shell_config(Client().get("/"))
    assert config["heartbeatSeconds"] == settings.SECURECHAT_WS_HEARTBEAT_SECONDS


def test_v2_moved_to_the_root():
    moved = Client().get("/v2/")
    assert (moved.status_code, moved["Location"]) == (301, "/")
    assert Client().post("/v2/").status_code == 405


@override_settings(SECURECHAT_REQUIRE_2FA=True)
def test_a_half_login_opens_the_shell_on_every_path():
    Device("hal@example.com").signup()  # unverified: held at the verification stage
    device = Device("hal@example.com")
    assert device.login().json()["email_verification_required"] is True
    for path in PATHS:
        shell_config(device.http.get(path))
    assert device.http.get("/api/v1/me").status_code == 403
