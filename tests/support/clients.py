"""Clients that talk to a live server the way a non-browser client would
(docs/api.md): JSON over HTTP with the CSRF token and Origin, both cookies
kept, and the ``websockets`` library for ``/ws/``.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from websockets.asyncio.client import connect


class ApiClient:
    """An HTTP client holding one browser-like session on a live server."""

    def __init__(self, base_url: str, origin: str | None = None, timeout: float = 30):
        self.base_url = base_url
        self.origin = origin or base_url
        self.http = httpx.Client(base_url=base_url, timeout=timeout, follow_redirects=False)
        self.csrf_token: str | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def fetch_csrf(self) -> str:
        response = self.http.get("/api/v1/csrf")
        response.raise_for_status()
        self.csrf_token = response.json()["csrf_token"]
        return self.csrf_token

    def headers(self) -> dict[str, str]:
        if self.csrf_token is None:
            self.fetch_csrf()
        return {"X-CSRFToken": self.csrf_token, "Origin": self.origin}

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: Any = None, **kwargs) -> httpx.Response:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return self.http.post(path, json=data if data is not None else {}, headers=headers,
                              **kwargs)

    def delete(self, path: str, **kwargs) -> httpx.Response:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return self.http.delete(path, headers=headers, **kwargs)

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies.jar)


def ws_connect(ws_url: str, origin: str | None, cookie_header: str = "", **kwargs):
    """``async with ws_connect(...) as ws``: a websocket with the session's cookies."""
    headers = {"Cookie": cookie_header} if cookie_header else {}
    return connect(ws_url, origin=origin, additional_headers=headers, open_timeout=10,
                   **kwargs)


async def recv_json(ws, timeout: float = 10) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


class LiveClient:
    """A websockets connection speaking the chat protocol, keeping every frame it got."""

    def __init__(self, ws):
        self.ws = ws
        self.frames: list[dict] = []
        self.counter = 0

    async def recv(self, timeout=10) -> dict:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def request(self, frame: dict, timeout=15) -> dict:
        self.counter += 1
        req_id = f"r{self.counter}"
        await self.ws.send(json.dumps({**frame, "req_id": req_id}))
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - time.monotonic()))
            if frame.get("req_id") == req_id:
                return frame

    async def until_messages(self, conversation_id, count, timeout=20,
                             frame_type: str = "message") -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.messages(conversation_id, frame_type)) < count:
            await self.recv(max(0.01, deadline - time.monotonic()))
        return self.messages(conversation_id, frame_type)

    def messages(self, conversation_id, frame_type: str = "message"):
        return [f for f in self.frames
                if f["type"] == frame_type and f["conversation"] == conversation_id]
