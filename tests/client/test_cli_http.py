"""client.http: origins, CSRF and Origin on unsafe methods, cookies in a 0600 file, errors.

A mock transport plays the server, so each test sees exactly the requests sent.
"""

from __future__ import annotations

import json

import httpx
import pytest

from client.errors import ApiFailure, UsageError
from client.http import SESSION_FILE, Session, origin_of


@pytest.mark.parametrize("url, origin", [
    ("https://chat.example.org", "https://chat.example.org"),
    ("https://chat.example.org:8443/", "https://chat.example.org:8443"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("http://localhost:8000/", "http://localhost:8000"),
    ("http://[::1]:8000", "http://[::1]:8000"),
])
def test_origins(url, origin):
    assert origin_of(url) == origin


@pytest.mark.parametrize("url", [
    "http://chat.example.org", "ftp://chat.example.org", "chat.example.org",
    "https://user:pw@chat.example.org", "https://chat.example.org/?x=1", "https://:80",
])
def test_refused_server_urls(url):
    with pytest.raises(UsageError):
        origin_of(url)


class FakeServer:
    """Records requests; answers CSRF, a cookie-setting login, and programmed errors."""

    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.answers: dict[str, httpx.Response] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/api/v1/csrf":
            return httpx.Response(200, json={"csrf_token": "tok"},
                                  headers={"Set-Cookie": "csrftoken=c1; Path=/"})
        if request.url.path in self.answers:
            return self.answers[request.url.path]
        if request.url.path == "/api/v1/auth/login":
            return httpx.Response(200, json={"otp_required": False},
                                  headers={"Set-Cookie": "sessionid=s1; Path=/; HttpOnly"})
        if request.url.path == "/api/v1/auth/logout":
            return httpx.Response(200, json={"ok": True}, headers={
                "Set-Cookie": 'sessionid=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/'})
        return httpx.Response(200, json={"path": request.url.path,
                                         "cookie": request.headers.get("cookie")})


@pytest.fixture
def fake():
    return FakeServer()


def session(tmp_path, fake, server="http://127.0.0.1:8000") -> Session:
    return Session(server, tmp_path, transport=httpx.MockTransport(fake))


def test_unsafe_requests_carry_a_fresh_csrf_token_and_the_origin(tmp_path, fake):
    with session(tmp_path, fake) as s:
        s.get("/api/v1/me")
        s.post("/api/v1/auth/login", {"email": "a@x.org"})
        s.post("/api/v1/auth/login", {"email": "a@x.org"})
    paths = [(r.method, r.url.path) for r in fake.requests]
    assert paths == [("GET", "/api/v1/me"), ("GET", "/api/v1/csrf"),
                     ("POST", "/api/v1/auth/login"), ("GET", "/api/v1/csrf"),
                     ("POST", "/api/v1/auth/login")]
    get, post = fake.requests[0], fake.requests[2]
    assert "x-csrftoken" not in get.headers and "origin" not in get.headers
    assert post.headers["x-csrftoken"] == "tok" and post.headers["origin"] == "http://127.0.0.1:8000"
    assert post.headers["content-type"] == "application/json"
    assert json.loads(post.content) == {"email": "a@x.org"}


@pytest.mark.parametrize("server", ["http://127.0.0.1:8000", "http://localhost:8000",
                                    "https://chat.example.org"])
def test_cookies_persist_in_a_private_file_and_logout_forgets_them(tmp_path, fake, server):
    with session(tmp_path, fake, server) as s:
        s.post("/api/v1/auth/login", {})
    path = tmp_path / SESSION_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    stored = json.loads(path.read_text())[server]
    assert sorted(c[0] for c in stored) == ["csrftoken", "sessionid"]
    with session(tmp_path, fake, server) as again:  # a later run of the CLI
        assert again.has_session()
        assert "sessionid=s1" in again.get("/api/v1/me")["cookie"]
        again.post("/api/v1/auth/logout")
        assert not again.has_session()
        again.forget()
    assert server not in json.loads(path.read_text())


def test_cookies_of_one_server_are_never_sent_to_another(tmp_path, fake):
    with session(tmp_path, fake) as s:
        s.post("/api/v1/auth/login", {})
    with session(tmp_path, fake, "https://chat.example.org") as other:
        assert not other.has_session()
        assert other.get("/api/v1/me")["cookie"] is None


def test_a_json_error_becomes_one_api_failure(tmp_path, fake):
    fake.answers["/api/v1/auth/signup"] = httpx.Response(
        400, json={"error": "invalid", "detail": "Enter a valid email address.", "field": "email"})
    with session(tmp_path, fake) as s, pytest.raises(ApiFailure) as caught:
        s.post("/api/v1/auth/signup", {})
    e = caught.value
    assert (e.code, e.status, e.detail, e.field) == (
        "invalid", 400, "Enter a valid email address.", "email")


def test_a_rate_limit_names_the_wait(tmp_path, fake):
    fake.answers["/api/v1/auth/prelogin"] = httpx.Response(
        429, json={"error": "rate_limited", "detail": "Too many."}, headers={"Retry-After": "7"})
    with session(tmp_path, fake) as s, pytest.raises(ApiFailure, match=r"retry after 7 s"):
        s.post("/api/v1/auth/prelogin", {})


@pytest.mark.parametrize("response", [
    httpx.Response(502, text="<html>bad gateway</html>"),
    httpx.Response(200, text="not json"),
    httpx.Response(403, json=["not", "an", "object"]),
])
def test_answers_that_are_not_the_documented_json_are_api_failures(tmp_path, fake, response):
    fake.answers["/x"] = response
    with session(tmp_path, fake) as s, pytest.raises(ApiFailure) as caught:
        s.get("/x")
    assert caught.value.code == "api_failure" and caught.value.status == response.status_code


def test_redirects_are_not_followed(tmp_path, fake):
    fake.answers["/x"] = httpx.Response(302, headers={"Location": "https://evil.example/"})
    with session(tmp_path, fake) as s, pytest.raises(ApiFailure) as caught:
        s.get("/x")
    assert caught.value.status == 302 and len(fake.requests) == 1


def test_no_answer_is_unreachable(tmp_path):
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    s = Session("http://127.0.0.1:8000", tmp_path, transport=httpx.MockTransport(refuse))
    with s, pytest.raises(ApiFailure) as caught:
        s.get("/api/v1/me")
    assert (caught.value.code, caught.value.status) == ("unreachable", 0)
    assert "ConnectError" in str(caught.value)
