"""The one websocket of a browser tab, at ``/ws/`` (DESIGN.md §5)."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

CLOSE_NOT_LOGGED_IN = 4401


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_LOGGED_IN)
