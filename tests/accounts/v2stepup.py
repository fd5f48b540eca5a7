"""Version 2 step-up for the account tests: real client-side derivation (client/), real
devices talking JSON to the API (docs/protocol.md §27).

``profile_account()`` is a signed-up, verified, logged-in version 2 device; ``step_up``
is the ``{auth_key, code?}`` the profile endpoints take; ``email_change_body`` re-derives
under the new address's salt exactly as the browser does (static/js/v2/profile/).
"""

from __future__ import annotations

import base64

from django.conf import settings

from client import derivation
from client.identity import wrap_with_passphrase
from tests.accounts.test_client_keys import TEST_FLOOR, Device, b64url
from tests.accounts.test_v2_account_changes import Changer, account, keys_for, with_second_factor

__all__ = ["Changer", "account", "email_change_body", "profile_account", "step_up",
           "with_second_factor", "wrong_step_up"]


def profile_account(email: str) -> Changer:
    """A signed-up, logged-in version 2 account whose address is verified."""
    return account(email)


def step_up(device: Changer, code: str | None = None, **extra) -> dict:
    """The step-up fields: the current auth key, derived from the password, and a code."""
    body = {"auth_key": b64url(device.keys.auth_key)}
    if code is not None:
        body["code"] = code
    body.update(extra)
    return body


def wrong_step_up(device: Changer, **extra) -> dict:
    wrong = keys_for(device, "not the password at all", device.work_factor)
    return {"auth_key": b64url(wrong.auth_key), **extra}


def email_change_body(device: Changer, new_email: str, *, code: str | None = None,
                      **override) -> dict:
    """As the browser builds it: prelogin for the new address, derive with the same
    password under its salt at the server's work factor, re-wrap the identity."""
    salt, _ = Device(new_email).prelogin()
    work_factor = max(device.work_factor, settings.SECURECHAT_CLIENT_WORK_FACTOR)
    keys = derivation.derive_keys(new_email, salt, device.password, work_factor,
                                  min_work_factor=TEST_FLOOR)
    body = step_up(device, code, new_email=new_email, new_account_salt=b64url(salt),
                   new_auth_key=b64url(keys.auth_key), work_factor=work_factor,
                   wrapped_identity=base64.b64encode(
                       wrap_with_passphrase(device.identity, keys.passphrase)).decode())
    body.update(override)
    return body
