"""TEMPORARY, for the cutover merge only: delete this module once nothing imports it.

Version 1 sealed the identity in the session under a ``securechat_key``
cookie; that custody is gone (the stage bookkeeping lives in
``accounts.stages``). Modules other branches of the cutover delete (v1
messaging and file views) still import these names until those branches are
merged; here no session ever has an unlocked identity, so every version 1
entry point answers "locked".
"""

from __future__ import annotations

from accounts.errors import ApiError
from accounts.stages import (  # noqa: F401 - re-exported for not yet merged importers
    SESSION_CUSTODY,
    SESSION_STAGE,
    STAGE_DONE,
    STAGE_ENROL,
    STAGE_OTP,
    STAGE_VERIFY,
    auth_stage,
    client_custody,
    forget_everything,
    set_auth_stage,
    start_client_custody,
)

# Names of what version 1 kept, for tests that check it is gone.
KEY_COOKIE_NAME = "securechat_key"
SESSION_IDENTITY = "_securechat_identity"


def unlocked_identity(request):
    return None


def unlocked_identity_from_scope(scope):
    return None


def pending_recovery_code(request):
    return None


def require_unlocked_identity(request):
    raise ApiError("This server keeps no keys: use the version 2 client.",
                   code="locked", status=401)
