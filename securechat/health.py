"""``GET /api/v1/health``: is this process able to serve?

Reports the database, the channel layer's Redis and the blob storage, each
``ok`` or an error word (never a message that could carry a secret). The
status is 200 when all are ok and 503 otherwise, for load balancers.
"""

import asyncio
import logging
import os
import tempfile
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 2


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("health: database check failed")
        return "error"
    return "ok"


def check_storage() -> str:
    root = Path(settings.MEDIA_ROOT)
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)  # blobs: owner only
        with tempfile.NamedTemporaryFile(dir=root, prefix=".health-") as f:
            f.write(b"ok")
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        logger.exception("health: storage check failed")
        return "error"
    return "ok"


async def check_redis() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    import redis.asyncio as redis

    client = redis.from_url(settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT_SECONDS)
    try:
        await asyncio.wait_for(client.ping(), REDIS_TIMEOUT_SECONDS)
    except Exception:
        logger.warning("health: redis check failed")
        return "error"
    finally:
        await client.aclose()
    return "ok"


@require_GET
async def health(request):
    checks = {
        "database": await sync_to_async(check_database)(),
        "redis": await check_redis(),
        "storage": await sync_to_async(check_storage)(),
    }
    healthy = all(value in {"ok", "not configured"} for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks},
        status=200 if healthy else 503,
        headers={"Cache-Control": "no-store"},
    )
