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

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts import (
    clientauth,
    emails,  # emails._deliver at call time (tests slow it)
)
from accounts.actions.base import InvalidToken, audit
from accounts.actions.sessions import end_login_sessions
from accounts.actions.verification import EMAIL_TOKEN_MAX_AGE
from accounts.emails import site_url
from accounts.events import close_user_sockets
from accounts.models import ClientAuth, KeyGeneration, PendingClaim, User, WrappedIdentity
from accounts.models.invitations import hash_token


def stale_unverified(now=None):
    """Accounts still unverified past the release time (never staff: operators make those)."""
    cutoff = (now or timezone.now()) - timedelta(
        days=settings.SECURECHAT_UNVERIFIED_RELEASE_DAYS)
    return User.objects.filter(email_verified_at__isnull=True, date_joined__lt=cutoff,
                               is_staff=False, is_superuser=False)


def _release(user: User, now=None) -> bool:
    """Inside a transaction: delete ``user`` if it is still a stale claim. True if deleted."""
    locked = stale_unverified(now).select_for_update().filter(pk=user.pk).first()
    if locked is None:
        return False
    end_login_sessions(locked)
    close_user_sockets(locked.pk)
    audit("unverified_released", None)
    locked.delete()
    return True


def replace_unverified(holder: User) -> None:
    """Inside a transaction: an invitation for the address proved the mailbox, so the
    unverified account holding it goes (as when a claim's link is confirmed)."""
    locked = User.objects.select_for_update().filter(
        pk=holder.pk, email_verified_at__isnull=True).first()
    if locked is None:
        return
    end_login_sessions(locked)
    close_user_sockets(locked.pk)
    audit("unverified_released", None)
    locked.delete()


def release_if_stale(email: str) -> bool:
    """Inside a transaction: free ``email`` if an expired unverified claim holds it."""
    user = stale_unverified().filter(email=email).first()
    return user is not None and _release(user)


def do_release_unverified(*, dry_run: bool = True, now=None) -> list[str]:
    """Delete the registrations unverified past the release time; returns their addresses.

    Dry run by default (nothing changes). Each account goes in its own
    transaction with its row locked, and only if it is still unverified then,
    so a link confirmed meanwhile wins. Claims whose link expired go too.
    """
    released = []
    for user in stale_unverified(now).order_by("pk"):
        if dry_run:
            released.append(user.email)
            continue
        with transaction.atomic():
            if _release(user, now):
                released.append(user.email)
    if not dry_run:  # claims whose link expired hold wrapped keys nobody can use any more
        PendingClaim.objects.filter(created_at__lt=(now or timezone.now()) - timedelta(
            seconds=EMAIL_TOKEN_MAX_AGE)).delete()
    return released


# --- Taking over an unverified registration --------------------------------------------

def start_claim(signup) -> None:
    """Inside ``do_client_signup``: hold this signup (a checked ``ClientSignup``) as a claim
    on its address and mail it a link.

    An unverified account holds the address, so the signup becomes a
    ``PendingClaim`` (client-made keys, nothing logged in). Whoever confirms
    first wins: the claim's link (``do_claim_registration``) replaces the
    unverified account; the account's own link voids every claim.
    """
    token = secrets.token_urlsafe(32)
    PendingClaim.objects.create(
        email=signup.email, token_hash=hash_token(token), account_salt=signup.account_salt,
        work_factor=signup.work_factor, auth_hash=clientauth.auth_hash(signup.auth_key),
        password_blob=signup.wrapped_identity, recovery_blob=signup.recovery_wrapped,
        key_type=settings.SECURECHAT_KEY_TYPE, generation=1, recipient=signup.recipient,
        signing_public_key=signup.signing_key)
    link = site_url() + reverse("claim-registration", args=[token])
    body = render_to_string("accounts/auth/email_claim.txt",
                            {"link": link, "valid_days": EMAIL_TOKEN_MAX_AGE // 86400})
    email = signup.email
    transaction.on_commit(lambda: emails._deliver("Confirm your SecureChat email address", body,
                                           email, "registration claim link"))


def check_claim(token):
    """The usable ``PendingClaim`` a link names, or ``InvalidToken``; changes nothing."""
    if not isinstance(token, str) or not token or len(token) > 100:
        raise InvalidToken("This link is not valid.")
    since = timezone.now() - timedelta(seconds=EMAIL_TOKEN_MAX_AGE)
    claim = PendingClaim.objects.filter(token_hash=hash_token(token), created_at__gte=since
                                        ).first()
    if claim is None:
        raise InvalidToken("This link is not valid any more: it expired, or the address was "
                           "confirmed another way.")
    return claim


def do_claim_registration(token) -> User:
    """Confirm a claim: the unverified account of its address is replaced by the claimant's.

    The old account goes whole (sessions, sockets, keys, memberships); the
    new one is created verified from the claim. Refused when the address was
    verified meanwhile (its own link came first). Every claim on the address ends.
    """
    claim = check_claim(token)
    with transaction.atomic():
        holder = User.objects.select_for_update().filter(email=claim.email).first()
        if holder is not None and holder.email_verified:
            PendingClaim.objects.filter(email=claim.email).delete()
            raise InvalidToken("The address was confirmed by its account first.")
        if holder is not None:
            end_login_sessions(holder)
            close_user_sockets(holder.pk)
            holder.delete()
        user = User(email=claim.email, email_verified_at=timezone.now())
        user.set_unusable_password()  # no password ever reaches the server
        user.save()
        ClientAuth.objects.create(user=user, account_salt=bytes(claim.account_salt),
                                  work_factor=claim.work_factor,
                                  auth_hash=bytes(claim.auth_hash))
        WrappedIdentity.objects.create(
            user=user, password_blob=claim.password_blob, recovery_blob=claim.recovery_blob,
            recovery_recipient="")
        KeyGeneration.objects.create(
            user=user, number=claim.generation, key_type=claim.key_type,
            recipient=claim.recipient, signing_public_key=claim.signing_public_key)
        PendingClaim.objects.filter(email=claim.email).delete()
        audit("registration_claimed", user)
    return user
