"""``manage.py invite EMAIL [--days N] [--send]``: an invitation link for one address."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts import actions
from accounts.models import Invitation
from accounts.models.invitations import hash_token


class Command(BaseCommand):
    help = (
        "Invite EMAIL to sign up: creates a single-use invitation for that address and "
        "prints the signup link (or emails it with --send). The invitee chooses their own "
        "password and gets their own recovery code; neither is ever shown here. Only a "
        "SHA-256 of the token is stored, so a lost link cannot be printed again: invite "
        "the address again instead. Meant for SECURECHAT_REGISTRATION=invite (it also works "
        "with open registration, and is refused while registration is closed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="the address to invite (the link works only for it)")
        parser.add_argument(
            "--days", type=int, default=actions.INVITATION_DAYS_DEFAULT,
            help=f"how long the link stays valid, 1 to {actions.INVITATION_DAYS_MAX} days "
                 f"(default {actions.INVITATION_DAYS_DEFAULT})")
        parser.add_argument(
            "--send", action="store_true",
            help="email the link to the address through the configured mailer instead of "
                 "printing it (nothing is created when the mail cannot be sent)")

    def handle(self, *args, email, days, send, **options):
        try:
            token = actions.do_invite(email, days, send=send)
        except actions.AccountError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:  # SMTP refused or unreachable: the transaction rolled back
            raise CommandError(f"The invitation email could not be sent ({exc}); "
                               "no invitation was created.") from None
        email = actions.normalize_email(email)
        until = timezone.localtime(Invitation.objects.get(token_hash=hash_token(token)).expires_at)
        if send:
            self.stdout.write(f"Invitation emailed to {email}, valid until "
                              f"{until:%Y-%m-%d %H:%M %Z}.")
        else:
            self.stdout.write(f"Invitation for {email}, valid until {until:%Y-%m-%d %H:%M %Z}. "
                              "Send this link to the invitee (it works once):")
            self.stdout.write(actions.invitation_link(email, token))
