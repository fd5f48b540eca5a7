"""Administrator actions: deactivate, reset second-factor devices, end sessions."""

from __future__ import annotations

import logging

from django.db import transaction

from accounts.actions.base import audit
from accounts.actions.sessions import end_login_sessions
from accounts.models import (
    User,
)

logger = logging.getLogger(__name__)


def do_deactivate_user(user, *, actor=None) -> None:
    """Deactivate: logins refused, sessions ended, sockets closed."""
    from accounts.emails import send_security_email
    from accounts.events import close_user_sockets

    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        locked.is_active = user.is_active = False
        # A model save (not a queryset update): post_save listeners see the deactivation
        # (messaging announces the removal in every v2 conversation).
        locked.save(update_fields=["is_active"])
        end_login_sessions(user)
        close_user_sockets(user.pk)
        audit("deactivated", user, actor=actor)
        send_security_email(user, "deactivated")


def do_reset_devices(user, *, actor=None) -> int:
    """Remove every second-factor device (TOTP and backup codes); the user enrols again."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.emails import send_security_email
    from accounts.models import BackupCodeDevice

    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[0]
        removed += BackupCodeDevice.objects.filter(user=user).delete()[0]
        audit("devices_reset", user, actor=actor)
        send_security_email(user, "devices_reset")
    return removed


def do_end_sessions_by_admin(user, *, actor=None) -> int:
    from accounts.events import close_user_sockets

    with transaction.atomic():
        ended = end_login_sessions(user)
        close_user_sockets(user.pk)
        audit("sessions_ended_by_admin", user, actor=actor)
    return ended
