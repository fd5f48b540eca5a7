"""A reset without the recovery code, as tests make one: held by the user's client on a
new device, then published by the timer job (accounts/actions/heldreset.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from accounts.models import HeldReset
from client import account, changes
from client.http import Session
from tests.client.test_cli_account_changes import reset_link
from tests.support.v2chat import PASSWORD, TEST_FLOOR


def hold_reset_without_the_code(server, tmp_path, email: str) -> changes.Held:
    """What `securechat reset` does without the recovery code: new keys, held."""
    link = changes.parse_reset_link(reset_link(server, tmp_path / "mailer", email))
    home = tmp_path / f"new-device-{email}"
    home.mkdir(mode=0o700)
    with Session(server.url, home) as session:
        return changes.hold_reset(session, email, link, lambda: PASSWORD + " anew",
                                  account.KnownAccounts(home), lambda: "",
                                  min_work_factor=TEST_FLOOR)


def publish_due_resets() -> None:
    """The timer job, once the hold is over. It runs in a thread: its key-change push (sent
    after commit) cannot run on a thread where an event loop runs, as Playwright's does."""
    HeldReset.objects.filter(state=HeldReset.HELD).update(
        publish_at=timezone.now() - timedelta(seconds=1))
    with ThreadPoolExecutor(1) as pool, open("/dev/null", "w") as quiet:
        pool.submit(call_command, "publish_held_resets", stdout=quiet).result()
