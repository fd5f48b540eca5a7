"""Second factor: TOTP enrolment and backup codes."""

from __future__ import annotations

from dataclasses import dataclass

import django_otp
from django.conf import settings
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import stages, totp_keys
from accounts.actions.admin import grant_admin_on_2fa
from accounts.actions.base import AccountError, EmailUnverified, WrongStep, audit, client_ip
from accounts.actions.login import do_finish_enrolment
from accounts.actions.sessions import end_login_sessions
from accounts.emails import send_security_email
from accounts.models import (
    BackupCodeDevice,
    ForgivingTOTPDevice,
    User,
)
from accounts.otp import CodeRejected, confirmed_totp, has_second_factor, verify_unconfirmed_totp
from accounts.stepup import check_step_up

# The unconfirmed device this login session started (the only one it may confirm).
SESSION_PENDING_TOTP = "_securechat_pending_totp"


def _current_session_key(request) -> str | None:
    """The session to keep when the others end (None ends them all: no request)."""
    return request.session.session_key if request is not None else None


def do_start_totp(user: User):
    """A new, unconfirmed authenticator device (replacing an unconfirmed one); seed sealed.

    Only for a verified address (``EmailUnverified`` otherwise).
    """
    if not user.email_verified:
        # An unverified registration may be a squatter's: it must not dig in behind
        # a second factor that the mailbox's owner, who can take it over, lacks.
        raise EmailUnverified("Confirm your email address first: open the link we sent you.")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return ForgivingTOTPDevice.start_for(user, "Authenticator app")


def do_begin_totp_enrolment(request, *, step_up: dict):
    """The user starts an authenticator: the step-up (skipped in the "enrol" stage of a
    login mandatory 2FA holds), a new unconfirmed device this session remembers."""
    if stages.auth_stage(request.session) != stages.STAGE_ENROL:
        check_step_up(request.user, step_up)
    device = do_start_totp(request.user)
    request.session[SESSION_PENDING_TOTP] = device.pk
    return device


def do_confirm_totp_enrolment(request, code) -> list[str]:
    """Confirm the device this session started (``do_confirm_totp``); the backup codes.

    In the "enrol" stage the login completes; otherwise this session is now
    verified by the new device.
    """
    pending = request.session.get(SESSION_PENDING_TOTP)
    if pending is None:
        raise WrongStep("Start the authenticator setup first.")
    device, codes = do_confirm_totp(request.user, pending, code, request=request)
    request.session.pop(SESSION_PENDING_TOTP, None)
    if stages.auth_stage(request.session) == stages.STAGE_ENROL:
        do_finish_enrolment(request, device)
    else:
        django_otp.login(request, device)
    return codes


def do_confirm_totp(user: User, device_id, code, *, request=None) -> tuple[object, list[str]]:
    """Confirm the pending authenticator with its first code; returns it and new backup codes.

    ``device_id`` is the device this login session started (``do_start_totp``
    after step-up), so a stale unconfirmed device cannot be confirmed from
    another session. A previously confirmed authenticator is replaced; the
    backup codes are (re)generated and returned to be shown once. The user's
    other logins end, sockets included (as after a password change).
    """
    device = (ForgivingTOTPDevice.objects.filter(user=user, confirmed=False, pk=device_id)
              .first() if isinstance(device_id, int) else None)
    if device is None:
        raise WrongStep("Start the authenticator setup first.")
    if not verify_unconfirmed_totp(device, code):
        raise CodeRejected("That code does not match. Check the time on your phone and "
                           "try the current code.")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        device.refresh_from_db()
        backup, _ = BackupCodeDevice.objects.get_or_create(
            user=user, defaults={"name": "Backup codes", "confirmed": True})
        codes = backup.generate_codes()
        # A new second factor ends every other login, as a password change does.
        end_login_sessions(user, keep_session_key=_current_session_key(request))
        ip = client_ip(request) if request is not None else None
        audit("totp_enabled", user, ip=ip)
        audit("backup_codes_generated", user, ip=ip)
        # A staff invitation (createadmin) or a promotion waited for this second factor.
        grant_admin_on_2fa(user)
        send_security_email(user, "totp_enabled", request)
    return device, codes


def do_regenerate_backup_codes(user: User, *, step_up: dict, request=None) -> list[str]:
    """After the step-up, a fresh set of backup codes (shown once); the user's other
    logins end."""
    if not has_second_factor(user):
        raise WrongStep("Set up an authenticator app first.")
    check_step_up(user, step_up)
    if confirmed_totp(user) is None:
        raise WrongStep("Set up an authenticator app first; backup codes come with it.")
    with transaction.atomic():
        backup, _ = BackupCodeDevice.objects.get_or_create(
            user=user, defaults={"name": "Backup codes", "confirmed": True})
        codes = backup.generate_codes()
        # Whoever held an old code may be logged in with it somewhere: end the others.
        end_login_sessions(user, keep_session_key=_current_session_key(request))
        audit("backup_codes_generated", user,
              ip=client_ip(request) if request is not None else None)
        send_security_email(user, "backup_codes_generated", request)
    return codes


def do_remove_totp(user: User, *, step_up: dict, request=None) -> None:
    """After the step-up, remove the second factor (authenticator and backup codes),
    unless it is mandatory."""
    check_step_up(user, step_up)
    if settings.SECURECHAT_REQUIRE_2FA:
        raise AccountError("A second factor is mandatory on this server; it cannot be removed.")
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[0]
        removed += BackupCodeDevice.objects.filter(user=user).delete()[0]
        if removed:
            audit("totp_disabled", user, ip=client_ip(request) if request is not None else None)
            send_security_email(user, "totp_disabled", request)


@dataclass
class ResealResult:
    resealed: int
    current: int
    unreadable: list[int]


def do_reseal_totp_keys(*, dry_run: bool = True) -> ResealResult:
    """Seal every TOTP seed under the current ``SECURECHAT_TOTP_KEY`` (key rotation).

    Rows under an old key or from before sealing are re-sealed, one row lock
    each; rows no configured key opens are listed and left alone.
    """
    current = totp_keys.current_key_id()
    result = ResealResult(0, 0, [])
    for pk in ForgivingTOTPDevice.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            device = ForgivingTOTPDevice.objects.select_for_update().filter(pk=pk).first()
            if device is None:
                continue
            if totp_keys.sealed_key_id(device.key) == current:
                result.current += 1
                continue
            try:
                seed = device.bin_key
            except totp_keys.SealedKeyError:
                result.unreadable.append(pk)
                continue
            result.resealed += 1
            if not dry_run:
                ForgivingTOTPDevice.objects.filter(pk=pk).update(
                    key=totp_keys.seal(seed, device.user_id))
    return result
