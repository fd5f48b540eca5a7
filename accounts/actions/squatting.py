"""Unverified registrations (issue 17, address squatting).

Anyone can sign up with an address they do not own; until its link is
confirmed such an account is only a claim. Two rules keep a claim from
blocking the mailbox's owner:

- ``do_release_unverified``: a registration still unverified
  ``SECURECHAT_UNVERIFIED_RELEASE_DAYS`` (7) after signup is deleted, by the
  ``purge_unverified`` command or at once when someone signs up with the
  address (``release_if_stale``);
- the owner may take a younger claim over by verifying (``accounts.actions.claim``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.actions.base import audit
from accounts.actions.sessions import end_login_sessions
from accounts.models import User

logger = logging.getLogger(__name__)


def stale_unverified(now=None):
    """Accounts still unverified past the release time (never staff: operators make those)."""
    cutoff = (now or timezone.now()) - timedelta(
        days=settings.SECURECHAT_UNVERIFIED_RELEASE_DAYS)
    return User.objects.filter(email_verified_at__isnull=True, date_joined__lt=cutoff,
                               is_staff=False, is_superuser=False)


def _release(user: User, now=None) -> bool:
    """Inside a transaction: delete ``user`` if it is still a stale claim. True if deleted."""
    from accounts.events import close_user_sockets

    locked = stale_unverified(now).select_for_update().filter(pk=user.pk).first()
    if locked is None:
        return False
    end_login_sessions(locked)
    close_user_sockets(locked.pk)
    audit("unverified_released", None)
    locked.delete()
    return True


def release_if_stale(email: str) -> bool:
    """Inside a transaction: free ``email`` if an expired unverified claim holds it."""
    user = stale_unverified().filter(email=email).first()
    return user is not None and _release(user)


def do_release_unverified(*, dry_run: bool = True, now=None) -> list[str]:
    """Delete the registrations unverified past the release time; returns their addresses.

    Dry run by default (nothing changes). Each account goes in its own
    transaction with its row locked, and only if it is still unverified then,
    so a link confirmed meanwhile wins.
    """
    released = []
    for user in stale_unverified(now).order_by("pk"):
        if dry_run:
            released.append(user.email)
            continue
        with transaction.atomic():
            if _release(user, now):
                released.append(user.email)
    return released
