"""Structured logs (issue 16): in production every line a server writes is one JSON
object, and the lines one request causes all carry its request id, taken from the
``X-Request-ID`` nginx passes (or generated when absent or malformed) and returned in
the response. The token redaction still applies (the existing probe finds no secret).
"""

from __future__ import annotations

import json
import secrets
import time

import httpx

from tests.support.probes import leaks

PROXIED = {"X-Forwarded-Proto": "https"}  # as nginx sends it: no HTTPS redirect


def json_lines(server) -> list[dict]:
    """Every line of the server's output, each parsed as JSON (fails on any other line)."""
    lines = [line for line in server.log().splitlines() if line.strip()]
    assert lines, "the server wrote nothing"
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return parsed


def until_logged(server, request_id: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while True:
        mine = [r for r in json_lines(server) if r.get("request_id") == request_id]
        if len(mine) >= count or time.monotonic() > deadline:
            return mine
        time.sleep(0.1)


def test_production_lines_are_json_and_share_the_request_id(start_server, tmp_path):
    auth_key = secrets.token_urlsafe(32)  # a version 2 login credential, as a client sends it
    token = secrets.token_urlsafe(24)
    # An empty STATIC_ROOT (no collectstatic): rendering a page fails, and so does the
    # error page, so the exception escapes to uvicorn, which logs it after the app.
    server = start_server("uvicorn", SECURECHAT_ENV="production", LOG_LEVEL="DEBUG",
                          STATIC_ROOT=str(tmp_path / "empty-static"))
    request_id = "req-" + secrets.token_hex(8)
    with httpx.Client(base_url=server.url, headers=PROXIED, timeout=10) as http:
        # No CSRF token: refused and logged by Django (django.security.csrf) and uvicorn.
        refused = http.post("/api/v1/auth/login", json={"email": "a@example.com",
                                                        "auth_key": auth_key},
                            headers={"X-Request-ID": request_id})
        assert refused.status_code == 403
        assert refused.headers["X-Request-ID"] == request_id
        # A JSON 404 (no page to render) that django.request logs together with the
        # request object, whose repr holds the full path, query string included.
        link = http.get(f"/api/v1/nothing-here?invitation={token}",
                        headers={"X-Request-ID": "link-1"})
        generated = http.get("/api/v1/health/live", headers={"X-Request-ID": "bad id\tx"})
        failed = http.get("/login/", headers={"X-Request-ID": "page-1"})
    assert generated.status_code == 200
    new_id = generated.headers["X-Request-ID"]
    assert new_id != "bad id\tx" and len(new_id) == 32

    mine = until_logged(server, request_id, 2)
    loggers = {r["logger"] for r in mine}
    assert {"django.security.csrf", "uvicorn.access"} <= loggers, mine
    assert all(r["request_id"] == request_id for r in json_lines(server)
               if "/api/v1/auth/login" in r.get("message", "")), "a line without the id"
    assert until_logged(server, new_id, 1), "the generated id is not logged"
    assert link.status_code == 404 and link.headers["X-Request-ID"] == "link-1"
    link_lines = until_logged(server, "link-1", 2)
    assert {"django.request", "uvicorn.access"} <= {r["logger"] for r in link_lines}
    assert all(r["request_id"] == "link-1" for r in json_lines(server)
               if "nothing-here" in r.get("message", ""))
    # The traceback of the failed page, logged by uvicorn outside the app, has the id.
    assert failed.status_code == 500
    tracebacks = [r for r in until_logged(server, "page-1", 2) if "exc_info" in r]
    assert tracebacks and all(r["request_id"] == "page-1" for r in json_lines(server)
                              if "exc_info" in r)
    # Only the named fields: no record extra (the request object's repr) is written.
    assert {key for r in json_lines(server) for key in r} <= {
        "time", "level", "logger", "request_id", "message", "exc_info", "stack_info"}
    assert not any("bad id" in json.dumps(r) for r in json_lines(server))
    assert leaks(server.log(), {"auth_key": auth_key, "link token": token}) == []
    # Positive control: the probe finds the token in a line that carries it.
    assert leaks(f"GET /signup/?invitation={token}", {"link token": token}) == ["link token"]
