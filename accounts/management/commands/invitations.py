"""``manage.py invitations list [--json] | revoke ID [--yes]``."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from accounts import actions
from accounts.models import Invitation


def invitation_rows(everything: bool = False) -> list[dict]:
    """The invitations (pending ones unless ``everything``); never a token (none is stored)."""
    rows = []
    for invitation in Invitation.objects.order_by("-created_at", "-pk"):
        if not everything and invitation.state != "pending":
            continue
        rows.append({
            "id": invitation.pk,
            "email": invitation.email,
            "staff": invitation.staff,
            "state": invitation.state,
            "created_at": invitation.created_at.isoformat(),
            "expires_at": invitation.expires_at.isoformat(),
            "created_by": invitation.created_by.email if invitation.created_by_id else None,
        })
    return rows


class Command(BaseCommand):
    help = (
        "List invitations (pending ones; --all for used, expired and revoked too) or revoke "
        "a pending one so its link stops working. revoke is a dry run unless --yes. "
        "Tokens are never shown: only their SHA-256 is stored."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = sub.add_parser("list", help="pending invitations: id, address, staff, expiry")
        listing.add_argument("--json", action="store_true", help="a JSON array instead of text")
        listing.add_argument("--all", action="store_true",
                             help="also used, expired and revoked invitations")
        revoke = sub.add_parser("revoke", help="revoke pending invitation ID (dry run unless "
                                               "--yes)")
        revoke.add_argument("id", help="the invitation's number (from \"invitations list\")")
        revoke.add_argument("--yes", action="store_true",
                            help="really revoke (without it, only say what would happen)")

    def handle(self, *args, action, **options):
        if action == "list":
            rows = invitation_rows(options["all"])
            if options["json"]:
                self.stdout.write(json.dumps(rows, indent=2))
                return
            for row in rows:
                kind = "admin" if row["staff"] else "user"
                self.stdout.write(f"{row['id']:>6}  {row['email']}  {kind}  {row['state']}  "
                                  f"expires {row['expires_at']}")
            self.stdout.write(f"{len(rows)} invitation(s).")
            return
        try:
            invitation = actions.check_revoke_invitation(options["id"])
            if not options["yes"]:
                self.stdout.write(f"Would revoke invitation {invitation.pk} for "
                                  f"{invitation.email}. Nothing was changed; run again with "
                                  "--yes.")
                return
            actions.do_revoke_invitation(invitation.pk)
        except actions.AccountError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Revoked invitation {invitation.pk} for {invitation.email}.")
