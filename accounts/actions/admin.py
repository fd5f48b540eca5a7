"""Administrator actions: promote, demote, deactivate, reactivate, reset second-factor
devices, end sessions, revoke invitations.

Each ``do_*`` has a ``check_*`` beside it that raises the refusal (an
``AccountError``) and changes nothing: the commands' dry runs call only the
check, the admin and ``--yes`` call the action (which checks again).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.actions.base import AccountError, audit, normalize_email
from accounts.actions.sessions import end_login_sessions
from accounts.emails import send_security_email
from accounts.events import close_user_sockets
from accounts.models import (
    BackupCodeDevice,
    Invitation,
    LoginSession,
    User,
)
from accounts.otp import confirmed_totp


class NoSuchAccount(AccountError):
    code = "not_found"
    status = 404


def find_user(email) -> User:
    """The account with ``email`` (any spelling that normalises to it), or ``NoSuchAccount``."""
    key = normalize_email(email)
    user = User.objects.filter(email=key).first()
    if user is None:
        raise NoSuchAccount(f"No account has the address {key}.", field="email")
    return user


def is_admin(user: User) -> bool:
    return user.is_staff or user.is_superuser


def _other_active_admins(user: User):
    return User.objects.filter(is_active=True, is_superuser=True).exclude(pk=user.pk)


def _check_not_last_admin(user: User, what: str) -> None:
    if user.is_active and user.is_superuser and not _other_active_admins(user).exists():
        raise AccountError(f"{user.email} is the only active administrator; {what} would "
                           "leave none. Make another one first (createadmin or users promote).")


# --- promote / demote -----------------------------------------------------------------

def check_promote(user: User) -> bool:
    """May ``user`` become an administrator? True: at once (a confirmed authenticator);
    False: when they confirm one (the admin requires it)."""
    if not user.is_active:
        raise AccountError(f"{user.email} is deactivated; reactivate the account first.")
    if user.is_staff and user.is_superuser:
        raise AccountError(f"{user.email} is already an administrator.")
    if not user.email_verified:
        raise AccountError(f"{user.email} has not confirmed the address yet.")
    if confirmed_totp(user) is None:
        if user.admin_on_2fa:
            raise AccountError(f"{user.email} already becomes an administrator when their "
                               "authenticator app is confirmed.")
        return False
    return True


def do_promote(user: User, *, actor=None) -> bool:
    """Staff and superuser now (True) or once their authenticator is confirmed (False)."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        now = check_promote(user)
        if not now:
            User.objects.filter(pk=user.pk).update(admin_on_2fa=True)
            return False
        User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True,
                                               admin_on_2fa=False)
        audit("promoted", user, actor=actor)
    return True


def grant_admin_on_2fa(user: User) -> bool:
    """Inside the transaction that confirms ``user``'s authenticator: a pending staff
    invitation or promotion takes effect. True if it did."""
    if not User.objects.filter(pk=user.pk, admin_on_2fa=True, is_active=True).update(
            is_staff=True, is_superuser=True, admin_on_2fa=False):
        return False
    user.is_staff = user.is_superuser = True
    user.admin_on_2fa = False
    audit("promoted", user)
    return True


def check_demote(user: User) -> None:
    if not is_admin(user) and not user.admin_on_2fa:
        raise AccountError(f"{user.email} is not an administrator.")
    _check_not_last_admin(user, "demoting them")


def do_demote(user: User, *, actor=None) -> None:
    """No longer staff or superuser (nor pending); their admin sessions end with the rest."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        check_demote(user)
        User.objects.filter(pk=user.pk).update(is_staff=False, is_superuser=False,
                                               admin_on_2fa=False)
        audit("demoted", user, actor=actor)


# --- deactivate / reactivate ----------------------------------------------------------

def check_deactivate(user: User) -> None:
    if not user.is_active:
        raise AccountError(f"{user.email} is already deactivated.")
    _check_not_last_admin(user, "deactivating them")


def do_deactivate_user(user, *, actor=None) -> None:
    """Deactivate: logins refused, sessions ended, sockets closed."""
    check_deactivate(user)
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


def check_reactivate(user: User) -> None:
    if user.is_active:
        raise AccountError(f"{user.email} is active (not deactivated).")


def do_reactivate_user(user: User, *, actor=None) -> None:
    """Logins work again (their password and keys are unchanged)."""
    check_reactivate(user)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=True)
        user.is_active = True
        audit("reactivated", user, actor=actor)


# --- second factor and sessions -------------------------------------------------------

def second_factor_devices(user: User) -> int:
    return (TOTPDevice.objects.filter(user=user).count()
            + BackupCodeDevice.objects.filter(user=user).count())


def check_reset_devices(user: User) -> int:
    """The number of second-factor devices (authenticator, backup-code set) a reset
    removes; none is a refusal."""
    count = second_factor_devices(user)
    if not count:
        raise AccountError(f"{user.email} has no second factor to reset.")
    return count


def do_reset_devices(user, *, actor=None) -> int:
    """Remove every second-factor device (TOTP and backup codes); the user enrols again."""
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[0]
        removed += BackupCodeDevice.objects.filter(user=user).delete()[0]
        audit("devices_reset", user, actor=actor)
        send_security_email(user, "devices_reset")
    return removed


def check_end_sessions(user: User) -> int:
    """The number of open logins ``do_end_sessions_by_admin`` would end (0 is allowed)."""
    return LoginSession.objects.filter(user=user, ended_at__isnull=True).count()


def do_end_sessions_by_admin(user, *, actor=None) -> int:
    with transaction.atomic():
        ended = end_login_sessions(user)
        close_user_sockets(user.pk)
        audit("sessions_ended_by_admin", user, actor=actor)
    return ended


# --- invitations ----------------------------------------------------------------------

def check_revoke_invitation(invitation_id) -> Invitation:
    """The pending invitation ``invitation_id`` names, or a refusal; changes nothing."""
    if isinstance(invitation_id, bool) or not isinstance(invitation_id, int):
        try:
            invitation_id = int(str(invitation_id))
        except ValueError:
            raise AccountError(f"{invitation_id!r} is not an invitation number.") from None
    invitation = Invitation.objects.filter(pk=invitation_id).first()
    if invitation is None:
        raise NoSuchAccount(f"There is no invitation {invitation_id}.")
    if invitation.state != "pending":
        raise AccountError(f"Invitation {invitation_id} ({invitation.email}) is "
                           f"{invitation.state}; only a pending invitation can be revoked.")
    return invitation


def do_revoke_invitation(invitation_id, *, actor=None) -> Invitation:
    """The link stops working at once."""
    with transaction.atomic():
        invitation = check_revoke_invitation(invitation_id)
        if not Invitation.objects.usable().filter(pk=invitation.pk).update(
                revoked_at=timezone.now()):
            raise AccountError(f"Invitation {invitation.pk} was used or revoked meanwhile.")
        audit("invitation_revoked", None, actor=actor)
        invitation.refresh_from_db()
    return invitation
