"""``manage.py createadmin EMAIL [--days N] [--send]``: the first (or another) administrator."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts import actions
from accounts.models import Invitation
from accounts.models.invitations import hash_token


class Command(BaseCommand):
    help = (
        "Make an administrator: creates a staff invitation for EMAIL and prints its signup "
        "link (--send also emails it). It works in every registration mode (open, invite, "
        "closed). Signing up through the link verifies the address; the account becomes "
        "staff and superuser when its owner confirms an authenticator app (the admin "
        "requires one). The invitee chooses their own password and gets their own recovery "
        "code: neither is ever shown here. For an existing account use \"users promote\"."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="the address of the new administrator")
        parser.add_argument(
            "--days", type=int, default=actions.INVITATION_DAYS_DEFAULT,
            help=f"how long the link stays valid, 1 to {actions.INVITATION_DAYS_MAX} days "
                 f"(default {actions.INVITATION_DAYS_DEFAULT})")
        parser.add_argument(
            "--send", action="store_true",
            help="also email the link to the address (nothing is created when the mail "
                 "cannot be sent: run again without --send and pass the printed link on)")

    def handle(self, *args, email, days, send, **options):
        try:
            token = actions.do_invite(email, days, send=send, staff=True)
        except actions.AccountError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:  # SMTP refused or unreachable: the transaction rolled back
            raise CommandError(f"The invitation email could not be sent ({exc}); nothing was "
                               "created. Run again without --send to print the link only."
                               ) from None
        email = actions.normalize_email(email)
        until = timezone.localtime(Invitation.objects.get(token_hash=hash_token(token)).expires_at)
        mailed = f" It was emailed to {email}." if send else ""
        self.stdout.write(
            f"Administrator invitation for {email}, valid until {until:%Y-%m-%d %H:%M %Z}."
            f"{mailed} The account becomes an administrator once its authenticator app is "
            "confirmed. Signup link (it works once):")
        self.stdout.write(actions.invitation_link(email, token))
