"""The CLI's HTTP session with one SecureChat server (docs/api.md, DESIGN.md §11).

Contract:
- one base URL (``https://host[:port]``; plain ``http`` only to a loopback host,
  because the session cookie and ``auth_key`` must not cross a network in clear);
- cookies persist between runs in the config directory's ``session.json``
  (0600, keyed by origin; client._local), saved after every request that
  changed them, so a login in one run is the session of the next;
- every unsafe request (POST/PUT/PATCH/DELETE) first takes a fresh CSRF token
  from ``GET /api/v1/csrf`` (the server rotates it at signup, login and the
  code step, so a remembered one would go stale) and sends it as
  ``X-CSRFToken`` with ``Origin: <the server's origin>``;
- bodies are JSON; every refusal becomes one :class:`~client.errors.ApiFailure`
  (the server's ``{"error", "detail", "field"}``, or a synthetic code when the
  answer is not that shape or never came). Redirects are not followed: the API
  never redirects, and a redirect to another host would carry our headers.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from . import _local
from .errors import ApiFailure, UsageError

__all__ = ["Session", "origin_of"]

SESSION_FILE = "session.json"
TIMEOUT_SECONDS = 30.0
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOOPBACK_NAMES = frozenset({"localhost"})


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a server URL; :class:`UsageError` if it is not one we use."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UsageError(f"not a server URL (https://host[:port]): {url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise UsageError("plain http is only allowed to this machine (127.0.0.1); use https")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError("a server URL has no user, query or fragment")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"bad port in {url!r}") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Session:
    """Cookies, CSRF and JSON for one server; cookies saved under ``config_dir``."""

    def __init__(self, server: str, config_dir: Path, *, transport=None) -> None:
        self.origin = origin_of(server)
        self._path = config_dir / SESSION_FILE
        self._http = httpx.Client(
            base_url=self.origin, timeout=TIMEOUT_SECONDS, follow_redirects=False,
            transport=transport, headers={"Accept": "application/json"},
        )
        self._saved = self._stored_cookies()
        for name, value, domain, path in self._saved:
            self._http.cookies.set(name, value, domain=domain, path=path)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests ---------------------------------------------------------

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: dict | None = None) -> Any:
        return self.request("POST", path, body if body is not None else {})

    def request(self, method: str, path: str, body: dict | None = None) -> Any:
        """Send one request; the decoded JSON answer on 2xx, :class:`ApiFailure` otherwise."""
        headers = {}
        if method in _UNSAFE:
            headers = {"X-CSRFToken": self._csrf_token(), "Origin": self.origin}
        response = self._send(method, path, body, headers)
        self._save_cookies()
        return _decoded(response)

    def raw(self, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
        """One bodiless request with ``headers`` (tus): the raw answer, refusals included
        (:meth:`failure` turns one into an :class:`ApiFailure`)."""
        if method in _UNSAFE:
            headers = {**headers, "X-CSRFToken": self._csrf_token(), "Origin": self.origin}
        response = self._send(method, path, None, headers)
        self._save_cookies()
        return response

    @contextlib.contextmanager
    def stream(self, path: str, headers: dict[str, str]) -> Iterator[httpx.Response]:
        """A GET whose body is read as it arrives (downloads in constant memory)."""
        if not path.startswith("/"):
            raise UsageError("request paths start with /")
        try:
            with self._http.stream("GET", path, headers=headers) as response:
                yield response
        except httpx.HTTPError as exc:
            raise ApiFailure(
                "unreachable", 0, f"cannot reach {self.origin} ({type(exc).__name__})"
            ) from None

    @staticmethod
    def failure(response: httpx.Response) -> ApiFailure:
        """The :class:`ApiFailure` a refusal stands for (its body already read)."""
        try:
            value = response.json()
        except ValueError:
            value = None
        return _failure(response, value)

    def upload_headers(self) -> dict[str, str]:
        """Cookie, CSRF token and Origin for another HTTP client (tuspy) talking to the
        upload app as this session; nothing is saved from its answers."""
        token = self._csrf_token()  # first: its answer may set the CSRF cookie
        self._save_cookies()
        cookie = "; ".join(f"{c.name}={c.value}" for c in self._http.cookies.jar)
        return {"Cookie": cookie, "X-CSRFToken": token, "Origin": self.origin}

    def _csrf_token(self) -> str:
        answer = _decoded(self._send("GET", "/api/v1/csrf", None, {}))
        token = answer.get("csrf_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise ApiFailure("api_failure", 200, "the server sent no CSRF token")
        return token

    def _send(self, method: str, path: str, body: dict | None, headers: dict) -> httpx.Response:
        if not path.startswith("/"):
            raise UsageError("request paths start with /")
        try:
            return self._http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            # The class name says what failed (ConnectError, ReadTimeout…) without
            # echoing anything the request carried.
            raise ApiFailure(
                "unreachable", 0, f"cannot reach {self.origin} ({type(exc).__name__})"
            ) from None

    # --- cookies ----------------------------------------------------------

    def has_session(self) -> bool:
        return any(name == "sessionid" for name, *_ in self._saved)

    def forget(self) -> None:
        """Drop this server's cookies, in memory and on disk (logout)."""
        self._http.cookies.clear()
        self._save_cookies()

    def _stored_cookies(self) -> list[tuple[str, str, str, str]]:
        entry = _local.read_json(self._path).get(self.origin, [])
        if not isinstance(entry, list):
            return []
        return [tuple(c) for c in entry if isinstance(c, list) and len(c) == 4
                and all(isinstance(v, str) for v in c)]

    def _save_cookies(self) -> None:
        current = sorted((c.name, c.value or "", c.domain, c.path) for c in self._http.cookies.jar)
        if current == sorted(self._saved):
            return
        data = _local.read_json(self._path)
        if current:
            data[self.origin] = [list(c) for c in current]
        else:
            data.pop(self.origin, None)
        _local.write_private(self._path, json.dumps(data, indent=1, sort_keys=True).encode())
        self._saved = current


def _decoded(response: httpx.Response) -> Any:
    """The JSON of a 2xx answer, or the :class:`ApiFailure` a refusal stands for."""
    try:
        value = response.json()
    except ValueError:
        value = None
    if response.is_success:
        if value is None:
            raise ApiFailure("api_failure", response.status_code, "the server's answer is not JSON")
        return value
    raise _failure(response, value)


def _failure(response: httpx.Response, value: Any) -> ApiFailure:
    """The documented ``{"error", "detail", "field"}``, or a synthetic failure for the rest."""
    status = response.status_code
    if not isinstance(value, dict) or not isinstance(value.get("error"), str):
        return ApiFailure("api_failure", status,
                          f"the server answered {status} {response.reason_phrase}".rstrip())
    detail = value.get("detail") if isinstance(value.get("detail"), str) else value["error"]
    field = value.get("field") if isinstance(value.get("field"), str) else None
    retry = response.headers.get("Retry-After")
    if status == 429 and retry and retry.isdigit():
        detail = f"{detail} (retry after {retry} s)"
    return ApiFailure(value["error"], status, detail, field)
