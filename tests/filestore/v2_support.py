"""Users on a live server, and age files made by the client side.

A user signs up with the real ``client/`` library (``tests.support.v2chat.
V2User``); the session it gets is used against the live server (``member_of``:
the database is shared, so file messages can also be sent in process). Files are
age files made by ``agecrypt`` to a fresh one-time identity, as a v2 client
makes them; the server never sees that identity.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from tusclient import client as tus_client

import agecrypt
from accounts.models import User

UPLOADS = "/api/v1/uploads/"
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {**TUS, "Content-Type": "application/offset+octet-stream"}
_counter = itertools.count()


@dataclass
class V2Member:
    email: str
    cookie: str
    csrf_token: str

    def headers(self, server) -> dict[str, str]:
        return {"Cookie": self.cookie, "X-CSRFToken": self.csrf_token, "Origin": server.origin}

    def http(self, server) -> httpx.Client:
        return httpx.Client(base_url=server.url, headers=self.headers(server), timeout=60)

    def tus(self, server) -> tus_client.TusClient:
        return tus_client.TusClient(server.url + UPLOADS, headers=self.headers(server))


def v2_member(server) -> V2Member:
    """Sign a user up through the client flow (``V2User``); its session, logged in."""
    from tests.support.v2chat import V2User

    return member_of(server, V2User.signup(f"v2-{os.getpid()}-{next(_counter)}"))


def member_of(server, user) -> V2Member:
    """The session of a ``tests.support.v2chat.V2User`` (signed up in process) as a
    live-server member: the database is shared, so the session cookie works there too."""
    User.objects.filter(pk=user.id).update(email_verified_at=_now())
    session_key = user.http.cookies[settings.SESSION_COOKIE_NAME].value
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_key}"
    r = httpx.get(server.url + "/api/v1/csrf", headers={"Cookie": cookie})
    r.raise_for_status()
    token, csrf_cookie = r.json()["csrf_token"], r.cookies["csrftoken"]
    return V2Member(user.email, f"{cookie}; csrftoken={csrf_cookie}", token)


def _now():
    from django.utils import timezone

    return timezone.now()


def age_file(plaintext: bytes, key_type: str = "hybrid"):
    """``(age file bytes, one-time identity)`` as a v2 client makes them."""
    cls = agecrypt.X25519Identity if key_type == "x25519" else agecrypt.HybridIdentity
    identity = cls.generate()
    out = io.BytesIO()
    with agecrypt.Encryptor(out, [identity.recipient()]) as enc:
        for start in range(0, len(plaintext), 1 << 20):
            enc.write(plaintext[start:start + (1 << 20)])
    return out.getvalue(), identity


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def create(member: V2Member, server, length: int, **headers) -> httpx.Response:
    with member.http(server) as http:
        return http.post(UPLOADS, headers={**TUS, "Upload-Length": str(length), **headers})


def patch(member: V2Member, server, path: str, offset: int, body, **headers) -> httpx.Response:
    with member.http(server) as http:
        return http.patch(path, content=body,
                          headers={**OCTETS, "Upload-Offset": str(offset), **headers})


def tus_upload(member: V2Member, server, data: bytes, chunk_size: int | None = None) -> str:
    """Upload with tuspy, no metadata; the upload's path."""
    uploader = member.tus(server).uploader(file_stream=io.BytesIO(data), retries=0,
                                           chunk_size=chunk_size or len(data) + 1)
    uploader.upload()
    return path_of(uploader.url)


def path_of(url: str) -> str:
    return url[url.index(UPLOADS):]


def upload_id(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def download(member: V2Member, server, path: str, **headers) -> httpx.Response:
    with member.http(server) as http:
        return http.get(f"/api/v1/files/{upload_id(path)}", headers=headers)


class CountingStream(io.BytesIO):
    """A file whose reads are counted (what the client sends after a resume)."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.counting = False
        self.read_bytes = 0

    def read(self, n=-1):
        data = super().read(n)
        if self.counting:
            self.read_bytes += len(data)
        return data


def wait_until(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
