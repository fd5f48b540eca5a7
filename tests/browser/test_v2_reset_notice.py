"""A contact's reset without the recovery code, announced live in an open tab (issue 13,
must-show 3).

The server's heartbeat and session re-checks run every 600 s here, so within the test's
5 s only the key-change push can bring the notice: no reload, no send attempt, no
heartbeat. The reset is the real one: Bob's client holds it (client.changes.hold_reset,
new keys of generation 2 that nothing endorses), the publish job publishes it, and the
page shows the notice. Alice's next send then makes an epoch that Bob's new identity
opens, read from the stored envelope.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

import agecrypt
from accounts.models import HeldReset, KeyGeneration
from tests.browser.test_v2_chat import open_chat, send, signup, start_conversation
from tests.support.bundle import ensure_built
from tests.support.live import LiveServer
from tests.support.resets import hold_reset_without_the_code, publish_due_resets

pytestmark = pytest.mark.browser

QUIET = "600"  # seconds: no heartbeat and no session re-check during the test
NOTICE_TIMEOUT_MS = 5000


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, redis_url, tmp_path_factory):
    ensure_built()
    live = LiveServer("uvicorn", tmp_path_factory.mktemp("v2-reset-notice"),
                      extra_env={"SECURECHAT_RATE_SIGNUP_ADDRESS": "1000/3600",
                                 "SECURECHAT_WS_HEARTBEAT_SECONDS": QUIET,
                                 "SECURECHAT_WS_RECHECK_SECONDS": QUIET,
                                 "SECURECHAT_V2_RECHECK_SECONDS": QUIET}).start()
    yield live
    live.stop()


def test_a_reset_without_the_recovery_code_is_announced_live_and_the_next_epoch_opens_for_it(
        server, transactional_db, new_page, tmp_path):
    from messaging.models import EpochV2

    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email])
    send(page, "before your reset")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])
    assert not page.locator(".v2-alerts li").count()  # the control: no notice before
    held = hold_reset_without_the_code(server, tmp_path, bob.email)
    assert not KeyGeneration.objects.filter(user_id=bob.id, number=2).exists()  # held only
    before = EpochV2.objects.filter(conversation_id=conversation).order_by("-number").first()
    assert before.number >= 1

    publish_due_resets()
    assert HeldReset.objects.get(user_id=bob.id).state == HeldReset.PUBLISHED
    expect(page.locator(".v2-alerts li.v2-key-change")).to_have_text(
        [f"{bob.email} has a new key (generation 2)."], timeout=NOTICE_TIMEOUT_MS)

    send(page, "after your reset")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent", "Sent"])
    newest = EpochV2.objects.filter(conversation_id=conversation).order_by("-number").first()
    assert newest.number == before.number + 1
    new_identity = held.identity.current_identity
    assert agecrypt.decrypt(bytes(newest.envelope), [new_identity])
    with pytest.raises(agecrypt.AgeError):  # the control: the old epoch is not for it
        agecrypt.decrypt(bytes(before.envelope), [new_identity])
