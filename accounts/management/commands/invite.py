"""``manage.py invite EMAIL [--days N] [--send]``: an invitation link for one address."""

from __future__ import annotations

from accounts import actions
from accounts.management.invitation import InvitationCommand


class Command(InvitationCommand):
    help = (
        "Invite EMAIL to sign up: creates a single-use invitation for that address and "
        "prints the signup link (or emails it with --send). The invitee chooses their own "
        "password and gets their own recovery code; neither is ever shown here. Only a "
        "SHA-256 of the token is stored, so a lost link cannot be printed again: invite "
        "the address again instead. Meant for SECURECHAT_REGISTRATION=invite (it also works "
        "with open registration, and is refused while registration is closed)."
    )
    send_help = ("email the link to the address through the configured mailer instead of "
                 "printing it (nothing is created when the mail cannot be sent)")

    def report(self, email, token, until, sent):
        if sent:
            self.stdout.write(f"Invitation emailed to {email}, valid until "
                              f"{until:%Y-%m-%d %H:%M %Z}.")
        else:
            self.stdout.write(f"Invitation for {email}, valid until {until:%Y-%m-%d %H:%M %Z}. "
                              "Send this link to the invitee (it works once):")
            self.stdout.write(actions.invitation_link(email, token))
