"""ASGI entry point: HTTP and websockets for uvicorn (``make run``) and daphne.

HTTP requests under ``/api/v1/uploads/`` go to the raw tus application of
``filestore`` before Django sees them (DESIGN.md §6: Django and Channels
would spool or buffer the body). Everything else is Django, behind the body-size guard
(``securechat.body_limits``: 413 before Django spools a body). Websockets pass
the strict origin check, then the session/auth and second-factor scope
middleware, then the URL router.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securechat.settings")
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

from securechat.checks import refuse_unsafe_start  # noqa: E402

# uvicorn runs no system checks: production refuses an unsafe configuration here.
if settings.PRODUCTION:
    refuse_unsafe_start()

# Imported after Django is set up: these touch models.
from channels.routing import ProtocolTypeRouter  # noqa: E402

from securechat import logfilters  # noqa: E402
from securechat.body_limits import BodySizeGuard  # noqa: E402
from securechat.metrics import observe_requests  # noqa: E402
from securechat.requestid import with_request_id  # noqa: E402
from securechat.routing import (  # noqa: E402
    http_application,
    trust_proxies,
    websocket_application,
)

logfilters.install()
if settings.SECURECHAT_LOG_FORMAT == "json":
    logfilters.adopt_server_loggers()

# Outermost: the request id, so that every line logged inside carries it.
application = with_request_id(observe_requests(trust_proxies(ProtocolTypeRouter(
    {
        "http": http_application(BodySizeGuard(django_asgi_app)),
        "websocket": websocket_application(),
    }
))))
