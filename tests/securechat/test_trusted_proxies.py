"""X-Forwarded-For is believed only from SECURECHAT_TRUSTED_PROXIES (issue 16).

Servers run as the unit runs them (uvicorn's own proxy handling off) with a login
limit of 3 attempts per client address. Without the setting, forwarded addresses
are ignored: four attempts claiming four addresses all count against the peer and
the fourth is refused. With the peer trusted, the same four count per claimed
address (none refused), and four from one claimed address are (control).
"""

from __future__ import annotations

import pytest

from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.accounts import b64url
from tests.support.clients import ApiClient
from tests.support.live import LiveServer

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits", "redis_url")]

LIMITS = {"SECURECHAT_RATE_LOGIN_ADDRESS": "3/300", "SECURECHAT_RATE_LOGIN_ACCOUNT": "100/300"}


def attempts(server, forwarded_for: list[str]) -> list[int]:
    with ApiClient(server.url) as api:
        return [api.post("/api/v1/auth/login",
                         {"email": "nobody@example.com", "auth_key": b64url(bytes(32))},
                         headers={"X-Forwarded-For": address}).status_code
                for address in forwarded_for]


def start(tmp_path, name: str, **env) -> LiveServer:
    return LiveServer("uvicorn", tmp_path / name, extra_env={**LIMITS, **env},
                      extra_args=["--no-proxy-headers"]).start()


def test_forwarded_for_counts_only_from_a_trusted_proxy(tmp_path):
    trusted = start(tmp_path, "trusted", SECURECHAT_TRUSTED_PROXIES="127.0.0.1")
    try:
        assert attempts(trusted, [f"10.0.0.{i}" for i in range(1, 5)]) == [401] * 4
        assert attempts(trusted, ["10.0.0.9"] * 4) == [401, 401, 401, 429]
    finally:
        trusted.stop()
    untrusted = start(tmp_path, "untrusted")  # the default: no proxy is trusted
    try:
        assert attempts(untrusted, [f"10.1.0.{i}" for i in range(1, 5)]) == [401, 401, 401, 429]
    finally:
        untrusted.stop()
