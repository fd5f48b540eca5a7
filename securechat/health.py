"""Health for load balancers: liveness, readiness, and the older combined endpoint.

- ``GET /api/v1/health/live``: the process answers (no dependency is touched),
  so a balancer or systemd watchdog restarts only a process that is stuck.
- ``GET /api/v1/health/ready``: the database and the blob storage, each with a
  timeout. Redis is reported but never fails readiness: without it live push
  degrades (clients catch up with ``sync``) and the database stays the record,
  so taking every process out of the balancer would turn a degradation into an
  outage. 200 when the database and storage are ``ok``, 503 otherwise.
- ``GET /api/v1/health``: the same answer as ``ready`` (kept for existing probes).

Each component is ``ok``, ``error``, ``timeout`` or ``not configured``, never a
message that could carry a secret. A check that does not finish within
``SECURECHAT_HEALTH_TIMEOUT_SECONDS`` answers ``timeout``; while it still hangs
in its thread, later probes answer ``timeout`` at once instead of stacking up
more stuck threads (a hung database must not exhaust the process).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as redis
from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

# Own threads: a check stuck on a hung socket never holds Django's sync thread.
_executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")
_running: dict[str, concurrent.futures.Future] = {}
_running_lock = threading.Lock()


def check_database() -> str:
    """``SELECT 1`` on a connection of this thread, closed afterwards (no leak per thread)."""
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("health: database check failed")
        return "error"
    finally:
        connection.close()
    return "ok"


def check_storage() -> str:
    root = Path(settings.MEDIA_ROOT)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".health-") as f:
            f.write(b"ok")
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        logger.exception("health: storage check failed")
        return "error"
    return "ok"


async def check_redis(timeout: float) -> str:
    if not settings.REDIS_URL:
        return "not configured"

    client = redis.from_url(settings.REDIS_URL, socket_timeout=timeout,
                            socket_connect_timeout=timeout)
    try:
        await asyncio.wait_for(client.ping(), timeout)
    except Exception:
        logger.warning("health: redis check failed")
        return "error"
    finally:
        await client.aclose()
    return "ok"


async def run_with_timeout(name: str, check: Callable[[], str], timeout: float) -> str:
    """``check()`` in a health thread; ``timeout`` if it (or its stuck predecessor) hangs."""
    with _running_lock:
        previous = _running.get(name)
        if previous is not None and not previous.done():
            return "timeout"
        future = _executor.submit(check)
        _running[name] = future
    try:
        return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
    except TimeoutError:
        logger.warning("health: %s check did not answer within %s s", name, timeout)
        return "timeout"


async def readiness_checks() -> dict[str, str]:
    timeout = settings.SECURECHAT_HEALTH_TIMEOUT_SECONDS
    database, storage, redis_state = await asyncio.gather(
        run_with_timeout("database", check_database, timeout),
        run_with_timeout("storage", check_storage, timeout),
        check_redis(timeout),
    )
    return {"database": database, "redis": redis_state, "storage": storage}


def _json(payload: dict, status: int) -> JsonResponse:
    return JsonResponse(payload, status=status, headers={"Cache-Control": "no-store"})


@require_GET
async def live(request):
    """The process runs its event loop and answers: nothing else is checked."""
    return _json({"status": "ok"}, 200)


@require_GET
async def ready(request):
    """200 when the database and storage answer ``ok`` in time; Redis is reported only."""
    checks = await readiness_checks()
    healthy = checks["database"] == "ok" and checks["storage"] == "ok"
    return _json({"status": "ok" if healthy else "error", **checks}, 200 if healthy else 503)


# The endpoint probes used before liveness and readiness were split.
health = ready
