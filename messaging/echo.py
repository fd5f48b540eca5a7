"""A bare echo consumer over the channel layer, for bench/messaging.py only.

Mounted at ``/ws/bench-echo/<room>/`` only when ``SECURECHAT_BENCH_ECHO=1`` is
set in the server's environment (never in production): every text frame is
``group_send``-ed to the room's group and written to every socket in it,
with Channels' default dispatch. It is the baseline the chat consumer is
compared with: same server, same channel layer, no database, no crypto.
"""

from channels.generic.websocket import AsyncWebsocketConsumer


class BenchEchoConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        room = self.scope["url_route"]["kwargs"]["room"]
        self.group = f"bench-echo.{room}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is not None:
            await self.channel_layer.group_send(self.group, {"type": "echo.message",
                                                             "text": text_data})

    async def echo_message(self, event):
        await self.send(text_data=event["text"])
