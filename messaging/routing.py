from django.conf import settings
from django.urls import path

from messaging.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/", ChatConsumer.as_asgi()),
]

if settings.SECURECHAT_BENCH_ECHO:  # benchmarks only (bench/messaging.py)
    from messaging.echo import BenchEchoConsumer

    websocket_urlpatterns.append(
        path("ws/bench-echo/<slug:room>/", BenchEchoConsumer.as_asgi()))
