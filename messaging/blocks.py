"""Blocks between accounts (DESIGN.md §5): a user blocks a verified address; while either
of a pair blocked the other, their direct conversation takes no create, add or send
(``messaging.v2.actions.check_not_blocked``). Groups are not affected.

Blocking keeps no key and opens nothing: it is account metadata, kept through the
version 2 cutover (the v1 conversation actions that lived beside it are gone).
"""

from __future__ import annotations

from accounts.actions import AccountError, normalize_email, rate_limit
from accounts.errors import Invalid
from accounts.models import User
from messaging.models import Block


def clean_email(email) -> str:
    if not isinstance(email, str) or not email.strip() or len(email) > 254:
        raise Invalid("Enter an email address.")
    return email.strip()


def address_of(email) -> str:
    """The address in its stored form; 400 ``invalid`` for anything not well-formed."""
    try:
        return normalize_email(clean_email(email))
    except AccountError as exc:
        raise Invalid(str(exc)) from None


def verified_account(address: str) -> User | None:
    """The active account with this verified address, or None: one query either way.

    Unknown, unverified and inactive addresses look the same, in the answer
    and in the work done (DESIGN.md §5); only verified accounts are
    discoverable, and that is by design (docs/security.md, metadata).
    """
    return User.objects.filter(email=address, is_active=True,
                               email_verified_at__isnull=False).first()


def do_block(user, email) -> None:
    """Block a verified account by address; any other well-formed address is a silent no-op.

    The caller answers ``{ok}`` either way, so blocking cannot test whether an
    unverified or unknown address has an account (same answer, same query).
    """
    rate_limit("block_user", user.pk)
    address = address_of(email)
    if address == user.email:
        raise Invalid("You cannot block yourself.")
    contact = verified_account(address)
    if contact is not None:
        Block.objects.get_or_create(user=user, blocked=contact)


def do_unblock(user, email) -> None:
    """Lift a block by address; one DELETE whatever the address (none is an error)."""
    rate_limit("block_user", user.pk)
    Block.objects.filter(user=user, blocked__email=address_of(email)).delete()
