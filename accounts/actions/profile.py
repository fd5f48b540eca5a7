"""The account's display name (DESIGN.md §4): plain metadata contacts see.

A display name is for people, so it is cleaned like a file name from a message:
no control, format or bidi characters (a name cannot reorder what follows it on
screen), spaces collapsed, NFC, at most ``DISPLAY_NAME_MAX`` characters. It is not
unique and proves nothing: clients show the address next to it on hover and
whenever two people in one conversation share a name.
"""

from __future__ import annotations

import unicodedata

from accounts.actions.base import AccountError
from accounts.models import User

DISPLAY_NAME_MAX = 64

# Unicode categories a name may not hold: controls, format characters (bidi marks and
# overrides, zero-width joiners), unassigned, private use, surrogates, line separators.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"})


class InvalidDisplayName(AccountError):
    code = "invalid_display_name"


def check_display_name(value) -> str:
    """The cleaned name (``""`` clears it), or ``InvalidDisplayName`` naming the field."""
    if not isinstance(value, str):
        raise InvalidDisplayName("The display name must be text.", field="display_name")
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if any(unicodedata.category(ch) in REFUSED_CATEGORIES for ch in name):
        raise InvalidDisplayName("The display name may not contain control or invisible "
                                 "formatting characters.", field="display_name")
    if len(name) > DISPLAY_NAME_MAX:
        raise InvalidDisplayName(f"The display name is at most {DISPLAY_NAME_MAX} characters.",
                                 field="display_name")
    return name


def do_set_display_name(user: User, value) -> str:
    """Sets (or, with an empty value, clears) ``user``'s display name; returns it.

    Not audited and no email: the name is public metadata, not a security setting."""
    name = check_display_name(value)
    if name != user.display_name:
        user.display_name = name
        user.save(update_fields=["display_name"])
    return name
