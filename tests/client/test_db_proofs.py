"""Epochs and membership, proven from the database (issue 13, must-show 3).

Users run the client library (and the ``securechat`` CLI) against a live server; the
assertions read envelopes and message boxes straight from the rows and try to open them
with the keys and secrets each person holds, so the server's access control plays no
part in what they prove. Each absence check has its positive control: the same attempt
with a key that should open does open.
"""

from __future__ import annotations

import io
import threading

import pytest

import agecrypt
from agecrypt import header as age_header
from agecrypt._io import Source
from client import epochs, messagebox
from client.errors import ApiFailure
from messaging.models import ConversationV2, EpochV2, MembershipOperation, MemberV2, MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.client.test_cli_messages import CliUser
from tests.client.test_conversations import make_user, server, texts  # noqa: F401
from tests.support.live import LiveServer
from tests.support.v2chat import b64

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

ROUNDS = 3  # barrier-started epoch races per run


def stored_epochs(cid: str, *, after_seq: int = 0) -> list[EpochV2]:
    return list(EpochV2.objects.filter(conversation_id=cid, seq__gt=after_seq)
                .order_by("number"))


def stored_messages(cid: str, *, after_seq: int = 0) -> list[MessageV2]:
    return list(MessageV2.objects.filter(conversation_id=cid, seq__gt=after_seq,
                                         removed_at__isnull=True).order_by("seq"))


def opens_box(secret: bytes, row: MessageV2) -> bool:
    """Whether ``secret`` opens the stored box, in the context its signed statement names."""
    context = messagebox.parse_statement(bytes(row.statement)).context
    try:
        messagebox.open_box(secret, context, bytes(row.box))
    except messagebox.BoxAuthError:
        return False
    return True


def envelope_secret(row: EpochV2, identity) -> bytes | None:
    """The epoch secret in the stored envelope if ``identity`` opens it, else None."""
    try:
        plaintext = agecrypt.decrypt(bytes(row.envelope), [identity])
    except agecrypt.AgeError:
        return None
    return epochs.parse_plaintext(plaintext)[2]


def stanza_openers(row: EpochV2, identity) -> int:
    """How many of the stored envelope's stanzas ``identity`` unwraps, one by one."""
    parsed = age_header.parse_header(Source(io.BytesIO(bytes(row.envelope))))
    return sum(identity._unwrap_stanza(stanza) is not None for stanza in parsed.stanzas)


def seq_of_last_operation(cid: str) -> int:
    return MembershipOperation.objects.filter(conversation_id=cid).order_by("-index")[0].seq


def test_a_removed_members_identity_and_secrets_open_nothing_stored_after_the_removal(
        server, tmp_path):  # noqa: F811
    alice, bob, carol = (make_user(server, tmp_path, n) for n in ("alice", "bob", "carol"))
    cid = alice.create([alice.lookup_email(bob.email), alice.lookup_email(carol.email)],
                       "Book club", "group")
    bob.send_text(cid, "before the removal")
    held_by_bob = dict(bob.load(cid).secrets)  # every epoch secret Bob ever opened
    (before,) = stored_messages(cid)
    # The controls: Bob's identity opens the envelope of his time, his secret his box.
    current = stored_epochs(cid)[-1]
    assert envelope_secret(current, bob.identity.current_identity) == held_by_bob[
        current.number]
    assert opens_box(held_by_bob[before.epoch_number], before)

    alice.change_members(alice.load(cid), "remove", alice.lookup_email(bob.email))
    removed_at = seq_of_last_operation(cid)
    later_texts = ["after bob left", "carol too", "and the last one"]
    for sender, text in zip((alice, carol, alice), later_texts, strict=True):
        sender.send_text(cid, text)

    later_epochs, later = stored_epochs(cid, after_seq=removed_at), stored_messages(
        cid, after_seq=removed_at)
    assert later_epochs and len(later) == len(later_texts)
    assert all(row.epoch_number in {e.number for e in later_epochs} for row in later)
    for epoch in later_epochs:
        assert envelope_secret(epoch, bob.identity.current_identity) is None
        assert stanza_openers(epoch, bob.identity.current_identity) == 0
        assert envelope_secret(epoch, carol.identity.current_identity) is not None
    for row in later:
        assert not any(opens_box(secret, row) for secret in held_by_bob.values())
    assert texts(carol, cid) == ["before the removal", *later_texts]
    assert texts(alice, cid) == ["before the removal", *later_texts]


@pytest.fixture
def colluding_server(transactional_db, redis_url, tmp_path):
    """A live server that keeps a ghost member row yet stores envelopes leaving it out
    (tests/support/colluding_asgi.py)."""
    live = LiveServer("uvicorn", tmp_path / "colluding",
                      app="tests.support.colluding_asgi:application")
    yield live.start()
    live.stop()


def test_a_member_inserted_as_a_bare_row_is_unconfirmed_gets_no_stanza_and_reads_for_nobody(
        colluding_server, tmp_path):
    alice = CliUser(colluding_server, tmp_path, "alice")
    bob = make_user(colluding_server, tmp_path, "bob")
    ghost = make_user(colluding_server, tmp_path, "ghost")
    cid = alice.ok("new", bob.email, "--name", "Book club").split()[2]
    conversation = ConversationV2.objects.get(pk=cid)
    MemberV2.objects.create(conversation=conversation, user_id=ghost.me.user_id,
                            joined_seq=conversation.last_seq)
    inserted_at = conversation.last_seq

    members = alice.ok("members", cid).splitlines()
    assert f"{ghost.email}  (unconfirmed: the server lists them, no signed operation added " \
           "them; they get no key)" in members
    assert any(line.startswith(bob.email) and "unconfirmed" not in line for line in members)
    listed = next(c for c in bob.list() if c["id"] == cid)
    assert ghost.me.user_id in listed["members"]  # the server does list the ghost
    seen_by_bob = bob.load_listed(listed)
    assert seen_by_bob.unconfirmed == {ghost.me.user_id}
    assert ghost.me.user_id not in seen_by_bob.members

    # Envelopes clients make afterwards: a rename (by the CLI), an add (by the CLI) and an
    # epoch Bob's client finds due after Carol's keys change hands (a send).
    carol = make_user(colluding_server, tmp_path, "carol")
    alice.ok("group", "rename", cid, "Reading circle")
    alice.ok("group", "add", cid, carol.email)
    bob.send_text(cid, "hello, confirmed members")
    made_after = stored_epochs(cid, after_seq=inserted_at)
    assert len(made_after) >= 2
    for epoch in made_after:
        statement = epochs.parse_epoch_statement(bytes(epoch.statement))
        assert statement.entry(ghost.me.user_id) is None
        assert stanza_openers(epoch, ghost.identity.current_identity) == 0
        assert stanza_openers(epoch, bob.identity.current_identity) == 1  # the control
    for row in stored_messages(cid):
        assert not any(opens_box(s, row) for s in ghost.load(cid).secrets.values())

    # "Read by": the ghost's read position, written in the database, counts for nothing.
    (mine,) = [r for r in stored_messages(cid) if r.sender_id == bob.me.user_id]
    MemberV2.objects.filter(conversation_id=cid, user_id=ghost.me.user_id).update(
        last_read_seq=mine.seq + 100)
    read_by = bob.load_listed(next(c for c in bob.list() if c["id"] == cid)).read_by
    assert read_by(mine.seq) == (0, 2)  # Alice and Carol have not read it
    carol.mark_read(carol.load(cid))
    read_by = bob.load_listed(next(c for c in bob.list() if c["id"] == cid)).read_by
    assert read_by(mine.seq) == (1, 2)  # the control: a confirmed member's read counts


def race_one_epoch(first, second, cid: str) -> tuple[bytes, bytes]:
    """Both build the next epoch from the same state and POST it at one barrier: the
    winner's and the loser's secrets."""
    barrier = threading.Barrier(2)
    outcome: dict = {}

    def post(who):
        conv = who.load(cid)
        envelope, data, signature, secret = epochs.build_epoch(
            who.identity.signing_key, who.me, conversation_id=conv.raw_id,
            epoch=conv.latest.epoch + 1, prev_envelope_hash=conv.latest.envelope_hash,
            chain_head=conv.chain.state.head, members=who._member_keys(conv, conv.members),
            name=conv.name)
        body = {"envelope": b64(envelope), "statement": b64(data), "signature": b64(signature)}
        barrier.wait(timeout=60)
        try:
            who.session.post(f"/api/v1/v2/conversations/{cid}/epochs", body)
            outcome.setdefault("won", []).append(secret)
        except ApiFailure as exc:
            outcome.setdefault("lost", []).append((secret, exc.code))

    threads = [threading.Thread(target=post, args=(who,)) for who in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcome.get("won", [])) == 1 and len(outcome.get("lost", [])) == 1, outcome
    (lost_secret, code), = outcome["lost"]
    assert code == "epoch_exists"
    return outcome["won"][0], lost_secret


@pytest.mark.dbsensitive
def test_two_members_racing_for_one_epoch_store_one_and_nothing_uses_the_losing_secret(
        server, tmp_path):  # noqa: F811
    alice, bob = make_user(server, tmp_path, "alice"), make_user(server, tmp_path, "bob")
    cid = alice.create([alice.lookup_email(bob.email)], "", "group")
    losing = []
    for round_number in range(ROUNDS):
        number = ConversationV2.objects.get(pk=cid).epoch_number + 1
        winning, lost = race_one_epoch(alice, bob, cid)
        assert EpochV2.objects.filter(conversation_id=cid, number=number).count() == 1
        stored = EpochV2.objects.get(conversation_id=cid, number=number)
        assert envelope_secret(stored, alice.identity.current_identity) == winning
        assert envelope_secret(stored, bob.identity.current_identity) == winning
        alice.send_text(cid, f"alice in round {round_number}")
        bob.send_text(cid, f"bob in round {round_number}")
        assert {r.epoch_number for r in stored_messages(cid, after_seq=stored.seq)} == {number}
        losing.append(lost)
    rows = stored_messages(cid)
    assert len(rows) == 2 * ROUNDS
    for row in rows:
        assert not any(opens_box(secret, row) for secret in losing)
        epoch = EpochV2.objects.get(conversation_id=cid, number=row.epoch_number)
        assert opens_box(envelope_secret(epoch, alice.identity.current_identity), row)
    assert texts(bob, cid) == [f"{who} in round {n}" for n in range(ROUNDS)
                               for who in ("alice", "bob")]


def test_a_member_added_after_two_renames_opens_the_current_name(server, tmp_path):  # noqa: F811
    alice, bob, dave = (make_user(server, tmp_path, n) for n in ("alice", "bob", "dave"))
    cid = alice.create([alice.lookup_email(bob.email)], "Book club", "group")
    alice.change_members(alice.load(cid), "rename", name="Reading circle")
    alice.change_members(alice.load(cid), "rename", name="Readers of the night")
    alice.change_members(alice.load(cid), "add", alice.lookup_email(dave.email))
    assert dave.load(cid).name == "Readers of the night"
    assert bob.load(cid).name == "Readers of the night"
    # From the rows: Dave opens only the epoch of his add, and it holds the current name;
    # the earlier ones (with the old names) are not his to open, and Bob opens every one
    # from his own add on (the first epoch was Alice's alone).
    names = []
    for epoch in stored_epochs(cid):
        assert (envelope_secret(epoch, bob.identity.current_identity) is not None) == (
            epoch.number > 1)
        try:
            plaintext = agecrypt.decrypt(bytes(epoch.envelope), [dave.identity.current_identity])
        except agecrypt.AgeError:
            continue
        names.append(epochs.parse_plaintext(plaintext)[3])
    assert names == ["Readers of the night"]
    assert not any(b"Readers" in bytes(op.statement)
                   for op in MembershipOperation.objects.filter(conversation_id=cid))
