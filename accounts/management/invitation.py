"""What ``manage.py invite`` and ``createadmin`` share: the arguments, the call of
``actions.do_invite`` and its refusals as one ``CommandError`` line each."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts import actions
from accounts.models import Invitation
from accounts.models.invitations import hash_token


class InvitationCommand(BaseCommand):
    """A command that invites one address; subclasses say whom (``email_help``), whether
    the invitation makes an administrator (``staff``), and what they print (``report``)."""

    staff = False
    email_help = "the address to invite (the link works only for it)"
    send_help = ""
    # Appended to "The invitation email could not be sent (…);" when the mailer fails.
    not_sent = "no invitation was created."

    def add_arguments(self, parser):
        parser.add_argument("email", help=self.email_help)
        parser.add_argument(
            "--days", type=int, default=actions.INVITATION_DAYS_DEFAULT,
            help=f"how long the link stays valid, 1 to {actions.INVITATION_DAYS_MAX} days "
                 f"(default {actions.INVITATION_DAYS_DEFAULT})")
        parser.add_argument("--send", action="store_true", help=self.send_help)

    def handle(self, *args, email, days, send, **options):
        try:
            token = actions.do_invite(email, days, send=send, staff=self.staff)
        except actions.AccountError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:  # SMTP refused or unreachable: the transaction rolled back
            raise CommandError(f"The invitation email could not be sent ({exc}); "
                               f"{self.not_sent}") from None
        email = actions.normalize_email(email)
        until = timezone.localtime(Invitation.objects.get(token_hash=hash_token(token)).expires_at)
        self.report(email, token, until, send)

    def report(self, email: str, token: str, until: datetime, sent: bool) -> None:
        raise NotImplementedError
