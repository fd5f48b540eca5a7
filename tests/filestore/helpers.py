"""Shared set-up for filestore tests: two members of a conversation, logged in on a
live server, and the headers a tus client sends (cookies, X-CSRFToken, Origin)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from dataclasses import dataclass

import httpx
from tusclient import client as tus_client

from messaging.actions import do_start_conversation
from tests.support.accounts import TestSession, TestUser, make_user, session_for

UPLOADS = "/api/v1/uploads/"


@dataclass
class Member:
    test_user: TestUser
    session: TestSession
    csrf_token: str
    csrf_cookie: str

    @property
    def cookie_header(self) -> str:
        return f"{self.session.cookie_header}; csrftoken={self.csrf_cookie}"

    def headers(self, server) -> dict[str, str]:
        return {"Cookie": self.cookie_header, "X-CSRFToken": self.csrf_token,
                "Origin": server.origin}

    def http(self, server) -> httpx.Client:
        return httpx.Client(base_url=server.url, headers=self.headers(server), timeout=60)

    def tus(self, server) -> tus_client.TusClient:
        return tus_client.TusClient(server.url + UPLOADS, headers=self.headers(server))


def login(server, test_user: TestUser) -> Member:
    session = session_for(test_user)
    response = httpx.get(server.url + "/api/v1/csrf", headers={"Cookie": session.cookie_header})
    response.raise_for_status()
    return Member(test_user, session, response.json()["csrf_token"],
                  response.cookies["csrftoken"])


@dataclass
class Pair:
    alice: Member
    bob: Member
    conversation_id: int


def make_pair(server) -> Pair:
    alice, bob = make_user(), make_user()
    conversation = do_start_conversation(alice.user, bob.email)
    return Pair(login(server, alice), login(server, bob), conversation.pk)


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def metadata_header(conversation_id, name="file.bin", filetype="application/octet-stream"):
    return (f"conversation {b64(str(conversation_id))},filename {b64(name)},"
            f"filetype {b64(filetype)}")


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tus_upload(member: Member, server, conversation_id, data: bytes, *, name="file.bin",
               filetype="application/octet-stream", chunk_size=None, stream=None):
    """Upload with tuspy; returns the upload URL."""
    uploader = member.tus(server).uploader(
        file_stream=stream or io.BytesIO(data),
        chunk_size=chunk_size or (len(data) + 1),
        metadata={"conversation": str(conversation_id), "filename": name, "filetype": filetype},
        retries=0,
    )
    uploader.upload()
    return uploader.url


def create_upload(member: Member, server, conversation_id, length: int, **kw) -> str:
    with member.http(server) as http:
        response = http.post(UPLOADS, headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": str(length),
            "Upload-Metadata": metadata_header(conversation_id, **kw)})
    assert response.status_code == 201, response.text
    return response.headers["Location"]


def file_message_id(upload_url: str) -> str:
    """The file message of a finished upload (from the database)."""
    from filestore.models import Upload

    upload_id = upload_url.rstrip("/").rsplit("/", 1)[-1]
    return str(Upload.objects.get(pk=upload_id).message_id)
