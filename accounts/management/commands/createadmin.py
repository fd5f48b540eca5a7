"""``manage.py createadmin EMAIL [--days N] [--send]``: the first (or another) administrator."""

from __future__ import annotations

from accounts import actions
from accounts.management.invitation import InvitationCommand


class Command(InvitationCommand):
    help = (
        "Make an administrator: creates a staff invitation for EMAIL and prints its signup "
        "link (--send also emails it). It works in every registration mode (open, invite, "
        "closed). Signing up through the link verifies the address; the account becomes "
        "staff and superuser when its owner confirms an authenticator app (the admin "
        "requires one). The invitee chooses their own password and gets their own recovery "
        "code: neither is ever shown here. For an existing account use \"users promote\"."
    )
    staff = True
    email_help = "the address of the new administrator"
    send_help = ("also email the link to the address (nothing is created when the mail "
                 "cannot be sent: run again without --send and pass the printed link on)")
    not_sent = "nothing was created. Run again without --send to print the link only."

    def report(self, email, token, until, sent):
        mailed = f" It was emailed to {email}." if sent else ""
        self.stdout.write(
            f"Administrator invitation for {email}, valid until {until:%Y-%m-%d %H:%M %Z}."
            f"{mailed} The account becomes an administrator once its authenticator app is "
            "confirmed. Signup link (it works once):")
        self.stdout.write(actions.invitation_link(email, token))
