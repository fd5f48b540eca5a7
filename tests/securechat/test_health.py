"""Liveness and readiness answer in time when the database hangs (issue 16).

The server's database is the shared PostgreSQL seen through a proxy the test
starts (tests.support.tcpproxy): pausing the proxy makes the database hang
(connections open, no byte answered) without touching the shared server.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx

from tests.support.live import postgres_admin_url
from tests.support.tcpproxy import PausableProxy


def timed_get(url: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(url, timeout=30)
    return response, time.monotonic() - started


def test_a_hung_database_makes_readiness_answer_503_within_5_seconds(start_server):
    """Healthy first (control: the proxy forwards); paused, readiness answers 503 with
    ``database: timeout`` in under 5 s, twice (the second does not wait behind the stuck
    check), liveness stays 200 at once; resumed, readiness is 200 again."""
    admin = urlsplit(postgres_admin_url())
    with PausableProxy(admin.port or 5432, admin.hostname) as proxy:
        through_proxy = admin._replace(netloc=admin.netloc.replace(
            f"{admin.hostname}:{admin.port or 5432}", f"127.0.0.1:{proxy.port}"))
        server = start_server("uvicorn", DATABASE_URL=through_proxy.geturl())
        response, _ = timed_get(server.url + "/api/v1/health/ready")
        assert (response.status_code, response.json()["database"]) == (200, "ok")

        proxy.pause()
        for _ in range(2):
            response, elapsed = timed_get(server.url + "/api/v1/health/ready")
            assert response.status_code == 503
            assert response.json() == {"status": "error", "database": "timeout",
                                       "redis": "ok", "storage": "ok"}
            assert elapsed < 5, elapsed
        response, elapsed = timed_get(server.url + "/api/v1/health/live")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
        assert elapsed < 1, elapsed

        proxy.resume()
        deadline = time.monotonic() + 15
        while timed_get(server.url + "/api/v1/health/ready")[0].status_code != 200:
            assert time.monotonic() < deadline, "readiness did not recover"
            time.sleep(0.2)
