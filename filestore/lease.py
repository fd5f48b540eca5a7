"""The write lease of an upload: one PATCH at a time, across processes.

A lease is a row field pair (``lease_owner``, ``lease_expires``) taken with a
conditional UPDATE. The owner string names this process (host, pid and a boot
id drawn at import, so a restarted process with a recycled pid is another
owner). A running PATCH renews it every ``HEARTBEAT_SECONDS``; a killed
process stops renewing and the lease lapses after ``LEASE_SECONDS``, so a
resume is blocked for at most that long.

A lease held by a process on this host that no longer exists (same host
name, its pid gone) is taken over at once, so a restart after a crash on a
one-machine deployment resumes without waiting for the expiry. A recycled pid
only means waiting for the expiry.

Every write's record is conditioned on still holding the lease
(``filestore.actions.do_record``), so a stalled request that lost it never
records an offset over another writer's.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

LEASE_SECONDS = 15
HEARTBEAT_SECONDS = 4

BOOT_ID = uuid.uuid4().hex[:12]


def _host() -> str:
    return socket.gethostname()[:60]


def owner_id() -> str:
    return f"{_host()}:{os.getpid()}:{BOOT_ID}"


def owner_is_dead_here(owner: str) -> bool:
    """True only when ``owner`` names a process of this host that is gone."""
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != _host() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return parts[2] != BOOT_ID
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def expiry():
    return timezone.now() + timedelta(seconds=LEASE_SECONDS)


def free_or_lapsed(now) -> Q:
    return Q(lease_owner="") | Q(lease_expires__isnull=True) | Q(lease_expires__lt=now)


def held_by(owner: str, now) -> Q:
    return Q(lease_owner=owner, lease_expires__gt=now)
