"""``manage.py users list|promote|demote|deactivate|reactivate|reset-2fa|end-sessions``."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Exists, OuterRef, Q

from accounts import actions
from accounts.models import User

DESTRUCTIVE = ("deactivate", "reset-2fa", "end-sessions")


def user_rows() -> list[dict]:
    """Metadata only: no key, password hash, content or file name."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    users = User.objects.order_by("email").annotate(
        has_totp=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
        open_sessions=Count("login_sessions", filter=Q(login_sessions__ended_at__isnull=True),
                            distinct=True))
    return [{
        "id": user.pk,
        "email": user.email,
        "active": user.is_active,
        "verified": user.email_verified,
        "two_factor": user.has_totp,
        "staff": user.is_staff,
        "superuser": user.is_superuser,
        "admin_on_2fa": user.admin_on_2fa,
        "open_sessions": user.open_sessions,
        "date_joined": user.date_joined.isoformat(),
        "last_login": user.last_login.isoformat() if user.last_login else None,
    } for user in users]


class Command(BaseCommand):
    help = (
        "List and manage accounts. Addresses are matched in any spelling (normalised as at "
        "signup). deactivate, reset-2fa and end-sessions are dry runs unless --yes. Every "
        "change is audited; deactivate and reset-2fa email the user."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = sub.add_parser("list", help="every account: address, state, 2FA, roles")
        listing.add_argument("--json", action="store_true", help="a JSON array instead of text")
        for name, text in [
            ("promote", "make EMAIL staff and superuser (at once when they have an "
                        "authenticator app, otherwise when they confirm one)"),
            ("demote", "EMAIL is no longer staff or superuser"),
            ("deactivate", "refuse EMAIL's logins and end their sessions (dry run unless "
                           "--yes)"),
            ("reactivate", "let a deactivated EMAIL log in again"),
            ("reset-2fa", "remove EMAIL's authenticator and backup codes; they set it up "
                          "again at the next login; emailed to them (dry run unless --yes)"),
            ("end-sessions", "log EMAIL out everywhere, sockets included (dry run unless "
                             "--yes)"),
        ]:
            one = sub.add_parser(name, help=text, description=text)
            one.add_argument("email", help="the account's address")
            if name in DESTRUCTIVE:
                one.add_argument("--yes", action="store_true",
                                 help="really do it (without it, only say what would happen)")

    def handle(self, *args, action, **options):
        if action == "list":
            return self.list(options["json"])
        try:
            user = actions.find_user(options["email"])
            getattr(self, action.replace("-", "_"))(user, options.get("yes", False))
        except actions.AccountError as exc:
            raise CommandError(str(exc)) from None

    def list(self, as_json: bool) -> None:
        rows = user_rows()
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            flags = [("active" if row["active"] else "DEACTIVATED"),
                     ("verified" if row["verified"] else "unverified"),
                     ("2fa" if row["two_factor"] else "no-2fa")]
            if row["superuser"] or row["staff"]:
                flags.append("admin")
            elif row["admin_on_2fa"]:
                flags.append("admin-on-2fa")
            self.stdout.write(f"{row['id']:>6}  {row['email']}  {' '.join(flags)}  "
                              f"sessions={row['open_sessions']}")
        self.stdout.write(f"{len(rows)} account(s).")

    def promote(self, user, _yes) -> None:
        if actions.do_promote(user):
            self.stdout.write(f"{user.email} is now an administrator (staff and superuser).")
        else:
            self.stdout.write(f"{user.email} has no authenticator app yet: they become an "
                              "administrator when they confirm one.")

    def demote(self, user, _yes) -> None:
        actions.do_demote(user)
        self.stdout.write(f"{user.email} is no longer an administrator.")

    def reactivate(self, user, _yes) -> None:
        actions.do_reactivate_user(user)
        self.stdout.write(f"{user.email} is active again.")

    def _dry_run(self, what: str) -> None:
        self.stdout.write(f"Would {what}. Nothing was changed; run again with --yes.")

    def deactivate(self, user, yes) -> None:
        actions.check_deactivate(user)
        sessions = actions.check_end_sessions(user)
        if not yes:
            return self._dry_run(f"deactivate {user.email} and end {sessions} open "
                                 "session(s)")
        actions.do_deactivate_user(user)
        self.stdout.write(f"Deactivated {user.email}; ended {sessions} session(s).")

    def reset_2fa(self, user, yes) -> None:
        devices = actions.check_reset_devices(user)
        if not yes:
            return self._dry_run(f"remove {devices} second-factor device(s) of {user.email} "
                                 "and email them")
        actions.do_reset_devices(user)
        self.stdout.write(f"Removed {devices} second-factor device(s) of {user.email}; they "
                          "set up an authenticator again at their next login.")

    def end_sessions(self, user, yes) -> None:
        sessions = actions.check_end_sessions(user)
        if not yes:
            return self._dry_run(f"end {sessions} open session(s) of {user.email}")
        ended = actions.do_end_sessions_by_admin(user)
        self.stdout.write(f"Ended {ended} session(s) of {user.email}.")
