"""An in-process websocket client for the chat consumer (channels' WebsocketCommunicator).

It talks to ``securechat.asgi.application`` with the site's Origin and the
session cookies, like a browser tab, and keeps what it received so tests can
ask for frames of one type.
"""

from __future__ import annotations

import asyncio
import itertools
import json

from channels.testing import WebsocketCommunicator

from securechat.asgi import application

ORIGIN = b"http://127.0.0.1:8000"
_req = itertools.count(1)


class ChatClient:
    def __init__(self, session=None, *, cookie_header: str | None = None):
        header = cookie_header if cookie_header is not None else (
            session.cookie_header if session else "")
        headers = [(b"origin", ORIGIN)]
        if header:
            headers.append((b"cookie", header.encode()))
        self.comm = WebsocketCommunicator(application, "/ws/", headers=headers)
        self.frames: list[dict] = []
        self.close_code = None

    async def connect(self):
        connected, _ = await self.comm.connect(timeout=10)
        assert connected
        return self

    async def send(self, frame: dict) -> None:
        await self.comm.send_to(text_data=json.dumps(frame))

    async def request(self, frame: dict):
        """Send with a fresh req_id and return the reply (ack2, synced2, read2, pong or
        error) for it."""
        req_id = f"r{next(_req)}"
        await self.send({**frame, "req_id": req_id})
        return await self.wait_for(lambda f: f.get("req_id") == req_id and f["type"] in (
            "ack2", "error", "synced2", "read2", "pong"))

    async def recv(self, timeout: float = 10) -> dict:
        # Not comm.receive_output(): its timeout cancels the application.
        if self.comm.future.done() and self.comm.output_queue.empty():
            self.comm.future.result()  # raise the consumer's exception, if any
            raise ConnectionClosed(None)
        output = await asyncio.wait_for(self.comm.output_queue.get(), timeout)
        if output["type"] == "websocket.close":
            self.close_code = output.get("code")
            raise ConnectionClosed(self.close_code)
        frame = json.loads(output["text"])
        self.frames.append(frame)
        return frame

    async def wait_for(self, predicate, timeout: float = 10) -> dict:
        for frame in self.frames:
            if predicate(frame) and not frame.get("_seen"):
                frame["_seen"] = True
                return frame
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no matching frame; got {[f['type'] for f in self.frames]}")
            frame = await self.recv(remaining)
            if predicate(frame):
                frame["_seen"] = True
                return frame

    async def messages(self, conversation_id: str, count: int, timeout: float = 20) -> list:
        """Wait until ``count`` message2 frames holding a message of the conversation
        arrived; return them all."""
        def mine():
            return [f for f in self.frames
                    if f["type"] == "message2" and f["conversation"] == conversation_id
                    and f["item"]["type"] == "message"]

        deadline = asyncio.get_running_loop().time() + timeout
        while len(mine()) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{len(mine())} of {count} messages")
            await self.recv(remaining)
        return mine()

    async def closed_with(self, timeout: float = 10) -> int:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                await self.recv(max(0.01, deadline - asyncio.get_running_loop().time()))
            except ConnectionClosed as closed:
                return closed.code

    async def quiet(self, seconds: float) -> list[dict]:
        """Frames that arrive within ``seconds`` (for checks that nothing more comes)."""
        got = []
        try:
            while True:
                got.append(await self.recv(seconds))
        except TimeoutError:
            return got

    async def close(self):
        await self.comm.disconnect()


class ConnectionClosed(Exception):
    def __init__(self, code):
        super().__init__(f"closed with {code}")
        self.code = code
