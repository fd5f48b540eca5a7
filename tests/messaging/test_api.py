"""The messaging JSON API (docs/api.md), through Django's test client."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from messaging.models import Conversation, Membership, Message
from tests.support.accounts import login_client, make_user


def post(client, path, data=None, raw=None):
    body = raw if raw is not None else json.dumps(data or {})
    return client.post(path, body, content_type="application/json")


def test_start_send_list_and_read_history(pair):
    """Bob lists the conversation with 2 unread, reads a page with both texts valid, marks read."""
    alice = login_client(pair.alice)
    bob = login_client(pair.bob)
    cid = pair.conversation_id
    base = f"/api/v1/conversations/{cid}/messages"
    r1 = post(alice, base, {"body": "first", "client_id": "a1"})
    r2 = post(alice, base, {"body": "second", "client_id": "a2"})
    assert (r1.status_code, r1.json()["seq"], r2.json()["seq"]) == (201, 1, 2)
    again = post(alice, base, {"body": "first", "client_id": "a1"})
    assert again.status_code == 200 and again.json() == r1.json()
    listed = bob.get("/api/v1/conversations").json()
    assert [(c["id"], c["last_seq"], c["unread"]) for c in listed] == [(cid, 2, 2)]
    assert {m["email"] for m in listed[0]["members"]} == {pair.alice.email, pair.bob.email}
    assert listed[0]["key_change_pending"] == [] and listed[0]["expiry_seconds"] is None
    page = bob.get(base).json()
    assert [(m["seq"], m["text"], m["signature"]) for m in page["messages"]] == [
        (1, "first", "valid"), (2, "second", "valid")]
    assert post(bob, f"/api/v1/conversations/{cid}/read", {"seq": 2}).json() == {
        "last_read_seq": 2}
    assert bob.get("/api/v1/conversations").json()[0]["unread"] == 0


def test_pagination_with_before_and_after(pair):
    """before/after/limit return the right slices in seq order with has_before/has_after."""
    from messaging.actions import do_send_message

    a = pair.alice
    for i in range(7):
        do_send_message(a.user, a.identity_file, pair.conversation_id, f"m{i}", f"c{i}")
    bob = login_client(pair.bob)
    base = f"/api/v1/conversations/{pair.conversation_id}/messages"
    latest = bob.get(base, {"limit": 3}).json()
    assert [m["seq"] for m in latest["messages"]] == [5, 6, 7]
    assert latest["has_before"] and not latest["has_after"]
    older = bob.get(base, {"before": 5, "limit": 3}).json()
    assert [m["seq"] for m in older["messages"]] == [2, 3, 4]
    newer = bob.get(base, {"after": 2, "limit": 2}).json()
    assert [m["seq"] for m in newer["messages"]] == [3, 4] and newer["has_after"]
    for bad in ({"before": "x"}, {"limit": 0}, {"limit": 201}, {"before": 1, "after": 1},
                {"after": "-1"}):
        response = bob.get(base, bad)
        assert response.status_code == 400 and response.json()["error"] == "invalid", bad


def test_non_member_gets_404_for_everything(pair):
    """A third user cannot read, send, mark read, leave, delete or unsend: 404, nothing changes."""
    from messaging.actions import do_send_message

    sent = do_send_message(pair.alice.user, pair.alice.identity_file, pair.conversation_id,
                           "private", "c1")
    carol = login_client(make_user())
    cid = pair.conversation_id
    responses = [
        carol.get(f"/api/v1/conversations/{cid}/messages"),
        post(carol, f"/api/v1/conversations/{cid}/messages", {"body": "hi", "client_id": "x"}),
        post(carol, f"/api/v1/conversations/{cid}/read", {"seq": 1}),
        post(carol, f"/api/v1/conversations/{cid}/leave"),
        post(carol, f"/api/v1/conversations/{cid}/accept-key"),
        post(carol, f"/api/v1/conversations/{cid}/expiry", {"seconds": 5}),
        carol.delete(f"/api/v1/conversations/{cid}"),
        carol.delete(f"/api/v1/conversations/{cid}/messages/{sent.id}"),
        carol.get("/api/v1/conversations/999999/messages"),
        carol.get(f"/conversations/{cid}/"),
    ]
    assert [r.status_code for r in responses] == [404] * len(responses)
    assert all(r.json()["error"] == "not_found" for r in responses[:-1])
    assert Message.objects.count() == 1
    assert Conversation.objects.get(pk=cid).expiry_seconds is None
    assert carol.get("/api/v1/conversations").json() == []


def test_logged_out_and_half_logged_in_get_401(pair):
    """No session: 401 not_logged_in; a session at the code step: refused, nothing sent."""
    anonymous = Client()
    r = anonymous.get("/api/v1/conversations")
    assert r.status_code == 401 and r.json()["error"] == "not_logged_in"
    half = login_client(pair.alice, stage="otp")
    r = post(half, f"/api/v1/conversations/{pair.conversation_id}/messages",
             {"body": "x", "client_id": "c"})
    assert r.status_code == 403 and "error" in r.json()
    assert Message.objects.count() == 0


@pytest.mark.parametrize("raw,status,code", [
    ("not json", 400, "bad_request"), ("[1, 2]", 400, "bad_request"),
    (json.dumps({"body": 5, "client_id": "c"}), 400, "invalid"),
    (json.dumps({"body": "x"}), 400, "invalid"),
    (json.dumps({"body": "x" * 20000, "client_id": "c"}), 413, "too_big"),
])
def test_bad_message_posts_get_clear_errors_and_store_nothing(pair, raw, status, code):
    """Malformed bodies, wrong types, missing client_id and oversize text: JSON error, no row."""
    alice = login_client(pair.alice)
    r = post(alice, f"/api/v1/conversations/{pair.conversation_id}/messages", raw=raw)
    assert (r.status_code, r.json()["error"]) == (status, code)
    assert r.json()["detail"]
    assert Message.objects.count() == 0


def test_start_conversation_rules(transactional_db):
    """Verified address → 201 {id} (same id again); unverified/unknown → 404; self → 400;
    blocked → 403."""
    alice, bob, ghost = make_user(), make_user(), make_user(verified=False)
    client = login_client(alice)
    r = post(client, "/api/v1/conversations", {"email": bob.email})
    assert r.status_code == 201
    assert post(client, "/api/v1/conversations", {"email": bob.email}).json() == r.json()
    assert post(client, "/api/v1/conversations", {"email": ghost.email}).status_code == 404
    assert post(client, "/api/v1/conversations", {"email": "x@example.com"}).status_code == 404
    assert post(client, "/api/v1/conversations", {"email": alice.email}).status_code == 400
    assert post(client, "/api/v1/conversations", {"email": 5}).status_code == 400
    bob_client = login_client(bob)
    assert post(bob_client, "/api/v1/users/block", {"email": alice.email}).status_code == 200
    blocked = post(client, "/api/v1/conversations", {"email": bob.email})
    assert (blocked.status_code, blocked.json()["error"]) == (403, "blocked")
    sent = post(client, f"/api/v1/conversations/{r.json()['id']}/messages",
                {"body": "hi", "client_id": "c"})
    assert (sent.status_code, sent.json()["error"]) == (403, "blocked")
    post(bob_client, "/api/v1/users/unblock", {"email": alice.email})
    assert post(client, f"/api/v1/conversations/{r.json()['id']}/messages",
                {"body": "hi", "client_id": "c"}).status_code == 201


def test_unsend_leave_delete_and_expiry(pair):
    """Unsend leaves a tombstone; expiry shows in the list; leave blocks sending (403 left);
    delete hides the conversation from my list only."""
    alice, bob = login_client(pair.alice), login_client(pair.bob)
    cid = pair.conversation_id
    base = f"/api/v1/conversations/{cid}"
    sent = post(alice, base + "/messages", {"body": "regret", "client_id": "c1"}).json()
    assert bob.delete(f"{base}/messages/{sent['id']}").status_code == 403
    assert alice.delete(f"{base}/messages/{sent['id']}").status_code == 200
    assert alice.delete(f"{base}/messages/not-a-uuid").status_code == 404
    shown = bob.get(base + "/messages").json()["messages"]
    assert shown == [{"conversation": cid, "id": sent["id"], "seq": 1,
                      "sender": pair.alice.user.pk, "sent_at": shown[0]["sent_at"],
                      "kind": "text", "deleted": True, "signature": None}]
    assert post(alice, base + "/expiry", {"seconds": 3600}).json() == {"expiry_seconds": 3600}
    assert bob.get("/api/v1/conversations").json()[0]["expiry_seconds"] == 3600
    assert post(alice, base + "/expiry", {"seconds": "soon"}).status_code == 400
    assert bob.delete(base).status_code == 200
    assert bob.get("/api/v1/conversations").json() == []
    assert len(alice.get("/api/v1/conversations").json()) == 1
    assert post(bob, base + "/leave").status_code == 200
    r = post(bob, base + "/messages", {"body": "x", "client_id": "c2"})
    assert (r.status_code, r.json()["error"]) == (403, "left")
    assert Membership.objects.get(user=pair.bob.user).state == "left"


def test_wrong_method_is_405(pair):
    """PUT on the messages endpoint: 405 with Allow and a JSON error."""
    alice = login_client(pair.alice)
    r = alice.put(f"/api/v1/conversations/{pair.conversation_id}/messages")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert "POST" in r["Allow"]


def test_history_page_renders_decrypted_and_paginates(pair):
    """The server-rendered page shows the texts, links to older pages, and sends by a form."""
    from messaging.actions import do_send_message

    a = pair.alice
    for i in range(55):
        do_send_message(a.user, a.identity_file, pair.conversation_id, f"text-{i}", f"c{i}")
    bob = login_client(pair.bob)
    page = bob.get(f"/conversations/{pair.conversation_id}/")
    html = page.content.decode()
    assert page.status_code == 200 and "text-54" in html and "text-4<" not in html
    assert "?before=6" in html
    older = bob.get(f"/conversations/{pair.conversation_id}/?before=6").content.decode()
    assert "text-0" in older and "text-5<" not in older
    r = bob.post(f"/conversations/{pair.conversation_id}/", {"text": "from the form",
                                                            "client_id": "f1"})
    assert r.status_code == 302
    assert Message.objects.filter(sender=pair.bob.user).count() == 1
