"""``securechat.asgi``'s application without the body-size guard.

Only the positive control of tests/securechat/test_body_limits.py serves it: it shows that
the probe does see Django spooling a large body to a temporary file.
"""

from channels.routing import ProtocolTypeRouter

from securechat.asgi import django_asgi_app
from securechat.routing import http_application, websocket_application

application = ProtocolTypeRouter({
    "http": http_application(django_asgi_app),
    "websocket": websocket_application(),
})
