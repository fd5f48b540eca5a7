"""Origins compared strictly: scheme, host and port.

The Origin header must equal one of ``settings.SECURECHAT_ORIGINS`` (the list
that also feeds ``CSRF_TRUSTED_ORIGINS``), default ports made explicit. Used by
the websocket origin check (``securechat.origins``) and by the raw upload
application (``filestore.auth``), which both run outside Django's CSRF
middleware.
"""

from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(origin: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an origin, or None when it is not one."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username:
        return None
    return (parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme])


def origin_allowed(origin: str | None) -> bool:
    if not origin:
        return False
    wanted = normalize_origin(origin)
    if wanted is None:
        return False
    return any(normalize_origin(o) == wanted for o in settings.SECURECHAT_ORIGINS)
