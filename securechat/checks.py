"""Unsafe production configurations, refused (issue 17; docs/security.md, "Production refusals").

Three system checks, each an ``Error`` with its id:

- ``securechat.E101``: ``SECRET_KEY`` is a placeholder (the example file's ``change-me``,
  Django's ``django-insecure-`` keys, …) or too weak (under 50 characters or under 5
  distinct ones, Django's own measure in ``security.W009``). Sessions, password-reset
  links and signed cookies all rest on it.
- ``securechat.E102``: the deployment says it runs several processes
  (``SECURECHAT_PROCESSES`` > 1) but the channel layer is the in-memory one, which does
  not cross processes: messages would silently not reach users on another process.
- ``securechat.E103``: an installed dependency is below its security floor
  (``SECURITY_FLOORS``: each floor names the advisories it closes).

They run with ``manage.py check --deploy`` in any environment. In production settings
they also run with every management command that runs checks, and the ASGI entry point
refuses to start on any error (``refuse_unsafe_start``), since uvicorn runs no checks.
"""

from __future__ import annotations

import re
from importlib import metadata

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

PLACEHOLDER_KEY_WORDS = ("change-me", "changeme", "change_me", "replace-me", "placeholder",
                         "secret-key", "your-secret", "django-insecure")
MIN_SECRET_KEY_LENGTH = 50  # Django's security.W009 measure
MIN_SECRET_KEY_UNIQUE_CHARACTERS = 5
IN_MEMORY_LAYER = "channels.layers.InMemoryChannelLayer"

# package → (lowest safe version per release series, why). A version passes when it is at
# least the floor of the newest listed series not after its own (so 6.0.8 and 6.1.1 for
# Django: a 6.0 release needs 6.0.8, a 6.1 or later one 6.1.1, anything older fails).
SECURITY_FLOORS: dict[str, tuple[tuple[str, ...], str]] = {
    "Django": (("6.0.8", "6.1.1"),
               "CVE-2026-15307 (file write and request forgery via spatial lookups), "
               "CVE-2026-15920 (XSS via URLField values in the admin) and earlier"),
    "daphne": (("4.2.2",),
               "CVE-2026-44545 (unlimited websocket message size) and CVE-2026-44546 "
               "(header injection into the ASGI scope)"),
    "channels": (("3.0.3",), "CVE-2020-35681 (a session leaking between requests)"),
    "uvicorn": (("0.11.7",), "CVE-2020-7694 (log injection) and CVE-2020-7695 (HTTP "
                "response splitting)"),
    "cryptography": (("44.0.1",), "CVE-2024-12797 (the OpenSSL bundled in its wheels)"),
}


def release(version: str) -> tuple[int, ...]:
    """The numeric release of a version string: "6.1.3" → (6, 1, 3), "4.2rc1" → (4, 2)."""
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else (0,)


def floor_for(version: str, floors: tuple[str, ...]) -> str:
    """The floor that applies to ``version`` (see ``SECURITY_FLOORS``)."""
    series = release(version)[:2]
    applicable = [f for f in floors if release(f)[:2] <= series]
    return max(applicable, key=release) if applicable else min(floors, key=release)


def secret_key_errors(key: str) -> list[checks.Error]:
    lowered = key.lower()
    placeholder = any(word in lowered for word in PLACEHOLDER_KEY_WORDS)
    weak = (len(key) < MIN_SECRET_KEY_LENGTH
            or len(set(key)) < MIN_SECRET_KEY_UNIQUE_CHARACTERS)
    if not (placeholder or weak):
        return []
    why = "a placeholder" if placeholder else (
        f"shorter than {MIN_SECRET_KEY_LENGTH} characters or with fewer than "
        f"{MIN_SECRET_KEY_UNIQUE_CHARACTERS} distinct ones")
    return [checks.Error(
        f"SECRET_KEY is {why}.", obj="settings.SECRET_KEY", id="securechat.E101",
        hint="Generate one and keep it: python3 -c 'import secrets; "
             "print(secrets.token_urlsafe(64))'")]


def channel_layer_errors(processes: int, backend: str) -> list[checks.Error]:
    if processes <= 1 or backend != IN_MEMORY_LAYER:
        return []
    return [checks.Error(
        f"SECURECHAT_PROCESSES is {processes} but the channel layer is in-memory: live "
        "messages would not reach users connected to another process.",
        obj="settings.CHANNEL_LAYERS", id="securechat.E102",
        hint="Set REDIS_URL (shared by every process), or SECURECHAT_PROCESSES=1.")]


def dependency_errors(version_of=metadata.version) -> list[checks.Error]:
    errors = []
    for package, (floors, reason) in SECURITY_FLOORS.items():
        try:
            installed = version_of(package)
        except metadata.PackageNotFoundError:
            continue  # not installed, so not running
        floor = floor_for(installed, floors)
        if release(installed) < release(floor):
            errors.append(checks.Error(
                f"{package} {installed} is below its security floor {floor}: {reason}.",
                obj=package, id="securechat.E103",
                hint=f"Upgrade {package} (requirements.txt pins a safe version)."))
    return errors


def check_production_safety(app_configs=None, **kwargs) -> list[checks.Error]:
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    return [*secret_key_errors(settings.SECRET_KEY),
            *channel_layer_errors(settings.SECURECHAT_PROCESSES, backend),
            *dependency_errors()]


def register() -> None:
    """Deploy-only in development (``check --deploy``); always run in production."""
    checks.register(check_production_safety, checks.Tags.security,
                    deploy=not settings.PRODUCTION)


def refuse_unsafe_start() -> None:
    """Raise ImproperlyConfigured listing every error of these checks (production start)."""
    errors = [e for e in check_production_safety() if e.id not in
              settings.SILENCED_SYSTEM_CHECKS]
    if errors:
        raise ImproperlyConfigured("Refusing to start with an unsafe production configuration:\n"
                                   + "\n".join(f"{e.id}: {e.msg} {e.hint}" for e in errors))
