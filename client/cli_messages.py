"""The messaging commands of ``securechat`` (docs/cli.md "Conversations and messages").

    conversations                                   list, with unread counts
    new EMAIL... [--name NAME]                      a direct chat (one address) or a group
    send EMAIL|CONVERSATION TEXT|-                  one text message ("-": standard input);
    send --conversation ID TEXT|-                   an EMAIL starts the direct chat if needed
    send EMAIL|CONVERSATION --file PATH             a file, encrypted while it uploads
    read|history CONVERSATION [--since SEQ]         decrypted, verified history with warnings
    listen [CONVERSATION] [--json]                  live messages until Ctrl-C
    members CONVERSATION [--add EMAIL] [--remove EMAIL] [--leave]
    group create NAME EMAIL... | add ID EMAIL | remove ID EMAIL | leave ID | rename ID NAME
    safety-number EMAIL [--verify] | verify EMAIL [--mark]
    contacts                                        pinned keys and verified marks
    accept-key EMAIL                                pin a contact's changed keys (unverified)
    accept-restore CONVERSATION                     continue after the server was restored

CONVERSATION is an id, an unambiguous prefix of one, or the other member's address
for a direct conversation. client.cli registers these with :func:`add_commands` and
runs them with its error handling (one line, non-zero exit, never a traceback).
Everything cryptographic happens in client.conversations.
"""

from __future__ import annotations

import json
import mimetypes
import sys
from pathlib import Path
from urllib.parse import quote

from . import epochs, filemessage, files, safety
from .conversations import (
    ChainRefused,
    Conversation,
    Entry,
    Messenger,
    ServerRestored,
    check_text,
)
from .errors import ApiFailure, LocalFileError, ProtocolError, UsageError
from .state import LocalState

__all__ = ["COMMANDS", "add_commands"]

LISTEN_POLL_SECONDS = 0.5
WS_MAX_FRAME = 64 * 1024  # the protocol's frame limit (docs/api.md)


def add_commands(sub) -> None:
    """Add the messaging subcommands to the ``securechat`` parser's subparsers."""
    sub.add_parser("conversations", help="list your conversations with unread counts")
    c = sub.add_parser("new", help="start a direct conversation or a group")
    c.add_argument("emails", nargs="+", metavar="EMAIL")
    c.add_argument("--name", help="the group's name (encrypted; makes a group)")
    c = sub.add_parser("send", help="send a text message (- reads it from standard input) "
                       "or, with --file, a file encrypted while it uploads")
    c.add_argument("target", metavar="EMAIL|CONVERSATION", nargs="?",
                   help="an address (the direct conversation, started if needed) or a "
                   "conversation id or prefix")
    c.add_argument("text", metavar="TEXT", nargs="?")
    c.add_argument("--conversation", metavar="ID", help="the conversation (then the only "
                   "argument is TEXT)")
    c.add_argument("--file", type=Path, metavar="PATH",
                   help="send this file (resumable: run the same command again after a kill)")
    for name, what in (("read", "print a conversation's history, decrypted and verified"),
                       ("history", "the same as read: the decrypted, verified history")):
        c = sub.add_parser(name, help=what)
        c.add_argument("conversation", metavar="CONVERSATION")
        c.add_argument("--since", type=int, default=0, metavar="SEQ",
                       help="only entries after this seq")
    c = sub.add_parser("listen", help="print messages as they arrive (Ctrl-C stops)")
    c.add_argument("conversation", nargs="?", metavar="CONVERSATION")
    c.add_argument("--json", action="store_true", help="one JSON object per line")
    c = sub.add_parser("members", help="show, add or remove members, or leave")
    c.add_argument("conversation", metavar="CONVERSATION")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--add", metavar="EMAIL")
    g.add_argument("--remove", metavar="EMAIL")
    g.add_argument("--leave", action="store_true")
    _add_group_commands(sub)
    c = sub.add_parser("accept-restore", help="continue a conversation the server shows in an "
                       "older state (restored from a backup)")
    c.add_argument("conversation", metavar="CONVERSATION")
    _add_key_commands(sub)


def _add_group_commands(sub) -> None:
    group = sub.add_parser("group", help="create a group, add or remove a member, leave, "
                           "rename")
    verbs = group.add_subparsers(dest="group_command", required=True, metavar="ACTION",
                                 parser_class=type(group))
    c = verbs.add_parser("create", help="a new group named NAME with these members")
    c.add_argument("name", metavar="NAME")
    c.add_argument("emails", nargs="+", metavar="EMAIL")
    for verb, what in (("add", "add a member (admins)"), ("remove", "remove a member: a new "
                       "epoch they cannot open (admins)")):
        c = verbs.add_parser(verb, help=what)
        c.add_argument("conversation", metavar="ID")
        c.add_argument("email", metavar="EMAIL")
    c = verbs.add_parser("leave", help="leave the group")
    c.add_argument("conversation", metavar="ID")
    c = verbs.add_parser("rename", help="give the group a new name (in a new epoch; admins)")
    c.add_argument("conversation", metavar="ID")
    c.add_argument("name", metavar="NAME")


def _add_key_commands(sub) -> None:
    for name, flag in (("safety-number", "--verify"), ("verify", "--mark")):
        c = sub.add_parser(name, help="show the safety number you share with a contact")
        c.add_argument("email", metavar="EMAIL")
        c.add_argument(flag, dest="verify", action="store_true",
                       help="mark the contact verified (after comparing the number)")
    sub.add_parser("contacts", help="your pinned contacts' keys and verified marks")
    c = sub.add_parser("accept-key", help="accept a contact's new keys without comparing "
                       "the safety number (pinned unverified)")
    c.add_argument("email", metavar="EMAIL")


# --- set-up --------------------------------------------------------------------------


def _messenger(ctx, *, accept_restored: bool = False) -> Messenger:
    """Unlock the identity (client.cli's rules) and open this account's messaging state.
    ``accept_restored``: the user accepted a restore, so the server's pin blob becomes the
    baseline even if it is older than the one this client saw (it went back with the rest;
    keys pinned after the backup are pinned again on first use)."""
    from .cli import _identity  # client.cli imports this module: import here, not at the top

    identity = _identity(ctx)
    email = ctx.email()
    state = LocalState(ctx.dir, ctx.origin, email)
    if accept_restored:
        state.pins_seen.clear()
    session = ctx.session()
    user_id = state.data.get("user_id")
    if not isinstance(user_id, int):
        try:
            answer = session.get(f"/api/v1/directory?email={quote(email)}")
        except ApiFailure as exc:
            if exc.status == 404:
                raise UsageError("your address is not verified yet: open the link the "
                                 "server emailed you") from None
            raise
        user_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(user_id, int):
            raise ProtocolError("the key directory's answer is malformed")
    messenger = Messenger(session, identity, state, user_id)
    state.data["user_id"] = user_id
    return messenger


def resolve(messenger: Messenger, arg: str, *, start: bool = False) -> dict:
    """The listed conversation an argument names: id, unique prefix, or a direct peer's email
    (with ``start``, the direct conversation with that address is started if there is none)."""
    listed = messenger.list()
    if "@" in arg:
        peer = messenger.lookup_email(arg)
        found = [c for c in listed if c.get("kind") == "direct"
                 and set(c.get("members", [])) == {messenger.me.user_id, peer.user_id}]
        if not found and start:
            return {"id": _create(messenger, [peer], None), "kind": "direct"}
    else:
        found = [c for c in listed if c.get("id", "").startswith(arg.lower())] if arg else []
    if not found:
        raise UsageError(f"no conversation of yours matches {arg!r}")
    if len(found) > 1:
        raise UsageError(f"{arg!r} matches {len(found)} conversations: give more of the id")
    return found[0]


def _print_entry(conv: Conversation, entry: Entry, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps({"conversation": conv.id, "seq": entry.seq, "sender": entry.sender,
                          "text": entry.text, "event": entry.event, "failure": entry.failure,
                          "warnings": entry.warnings}), flush=True)
        return
    if entry.event is not None:
        body = f"* {entry.event}"
    elif entry.failure is not None:
        body = f"{entry.sender}: [FAILED] {entry.failure}"
    else:
        body = f"{entry.sender}: {entry.text}"
    print(f"#{entry.seq} {body}", flush=True)
    for warning in entry.warnings:
        print(f"   warning: {warning}", flush=True)


def _print_alert(conv: Conversation, alert: str, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps({"conversation": conv.id, "alert": alert}), flush=True)
    else:
        print(f"WARNING: {alert}", flush=True)


def _print_alerts(conv: Conversation) -> None:
    for alert in conv.alerts + conv.notes:
        print(f"WARNING: {alert}", flush=True)


# --- commands ------------------------------------------------------------------------


def cmd_conversations(ctx) -> int:
    messenger = _messenger(ctx)
    listed = messenger.list()
    if not listed:
        print("No conversations yet: securechat new EMAIL")
    for item in listed:
        try:
            conv = messenger.load_listed(item)
        except ChainRefused as exc:  # one bad conversation does not hide the others
            print(f"{str(item.get('id'))[:12]}  REFUSED: {exc}")
            continue
        except ServerRestored as exc:
            print(f"{str(item.get('id'))[:12]}  RESTORED: {exc}")
            continue
        warnings = len(conv.alerts) + len(conv.notes)
        flag = f" ({warnings} warnings)" if warnings else ""
        print(f"{conv.id[:12]}  {conv.kind:6}  {conv.title()}  "
              f"{conv.unread} unread{flag}")
    return 0


def cmd_new(ctx) -> int:
    if ctx.args.name is not None and not ctx.args.name.strip():
        raise UsageError("the group name is empty")
    messenger = _messenger(ctx)
    emails = list(dict.fromkeys(ctx.args.emails))
    peers = [messenger.lookup_email(e) for e in emails]  # all refused before anything is made
    conversation_id = _create(messenger, peers, ctx.args.name)
    kind = "direct" if len(peers) == 1 and ctx.args.name is None else "group"
    print(f"{kind} conversation {conversation_id} with {', '.join(emails)}")
    return 0


def _create(messenger: Messenger, peers: list, name: str | None) -> str:
    """Start a direct conversation (one peer, no name) or a group; its id."""
    if any(p.user_id == messenger.me.user_id for p in peers):
        raise UsageError("you are in every conversation you start; name the others")
    kind = "direct" if len(peers) == 1 and name is None else "group"
    messenger.pins.save()
    return messenger.create(peers, name or "", kind)


def _send_target(ctx) -> tuple[str | None, str | None]:
    """``(EMAIL or CONVERSATION, TEXT)`` from ``send TARGET TEXT`` or ``send --conversation
    ID TEXT`` (where the one positional argument is the text)."""
    args = ctx.args
    if args.conversation is None:
        if args.target is None:
            raise UsageError("send needs EMAIL or CONVERSATION (or --conversation ID)")
        return args.target, args.text
    if args.text is not None:
        raise UsageError("send takes either EMAIL|CONVERSATION or --conversation ID, not both")
    return args.conversation, args.target


def cmd_send(ctx) -> int:
    target, text = _send_target(ctx)
    if ctx.args.file is not None:
        return _send_file(ctx, target, text)
    if text is None:
        raise UsageError("send needs TEXT (or - for standard input) or --file PATH")
    if text != "-":
        check_text(text)  # bad input is refused before the password is even asked
    messenger = _messenger(ctx)
    if text == "-":
        text = sys.stdin.read().removesuffix("\n")
    check_text(text)
    listed = resolve(messenger, target, start=True)
    item = messenger.send_text(listed["id"], text)
    print(f"sent #{item['seq']} to {listed['id'][:12]}")
    return 0


def _send_file(ctx, target: str, text: str | None) -> int:
    if text is not None:
        raise UsageError("send either TEXT or --file, not both")
    return send_file(ctx, target, ctx.args.file)


def send_file(ctx, target: str, path: Path, patch_size: int = files.DEFAULT_PATCH_SIZE) -> int:
    """Upload ``path`` (encrypted as it goes; a recorded upload of it resumes, DESIGN.md §6)
    and send the file message to ``target`` (an EMAIL starts the direct conversation).
    Run again after a kill: the upload continues and the message is sent once."""
    if not path.is_file():
        raise LocalFileError(f"{path} is not a file")  # before asking for any secret
    messenger = _messenger(ctx)
    listed = resolve(messenger, target, start=True)
    result = files.upload(messenger.session, path, messenger.identity.current_identity,
                          ctx.dir, resume=True, patch_size=patch_size, keep_record=True)
    doc = filemessage.FileDocument(
        name=path.name, mime=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        size=path.stat().st_size, length=result.length, upload_id=result.upload_id,
        identity=result.identity, file_hash=result.file_hash)
    item = messenger.send_file(listed["id"], doc)
    files.forget_record(ctx.dir, messenger.session.origin, path)  # sent: nothing to resume
    resumed = f", resumed at byte {result.resumed_from}" if result.resumed_from else ""
    print(f"sent #{item['seq']} to {listed['id'][:12]}: {path.name} ({doc.size} bytes"
          f"{resumed})")
    if result.restarted:
        print("restarted: the recorded upload could not continue safely; "
              "uploaded again under a new key")
    return 0


def file_of_message(ctx, reference: str) -> filemessage.FileDocument:
    """The file document of the message ``CONVERSATION:SEQ`` (opened and verified here)."""
    conversation, _, seq = reference.rpartition(":")
    if not conversation or not seq.isdigit():
        raise UsageError("a message is named CONVERSATION:SEQ (as read prints it)")
    messenger = _messenger(ctx)
    conv = messenger.load_listed(resolve(messenger, conversation))
    found = [e for e in conv.entries if e.seq == int(seq)]
    if not found or found[0].file is None:
        failure = found[0].failure if found and found[0].failure else None
        raise UsageError(failure or f"message #{seq} of {conv.id[:12]} is not a file")
    return found[0].file


def cmd_read(ctx) -> int:
    messenger = _messenger(ctx)
    conv = messenger.load_listed(resolve(messenger, ctx.args.conversation))
    print(f"{conv.kind} conversation {conv.id}: {conv.title()}")
    _print_alerts(conv)
    for entry in conv.entries:
        if entry.seq > ctx.args.since:
            _print_entry(conv, entry)
    for line in messenger.unexplained(conv):
        print(f"WARNING: {line}")
    messenger.mark_read(conv)
    return 0


def cmd_accept_restore(ctx) -> int:
    """After a restore the user accepts the server's older state of one conversation."""
    messenger = _messenger(ctx, accept_restored=True)
    listed = resolve(messenger, ctx.args.conversation)
    dropped = messenger.accept_restore(listed["id"])
    print(f"Continuing {listed['id'][:12]} from the server's restored state: "
          f"{dropped['seqs']} timeline entries, {dropped['operations']} membership "
          f"operations and {dropped['epochs']} epochs this client saw are gone from the "
          "server. Your next message starts a new epoch.")
    return 0


def _add_member(messenger: Messenger, conv: Conversation, email: str) -> None:
    messenger.change_members(conv, "add", messenger.lookup_email(email))
    print(f"added {email}")


def _remove_member(messenger: Messenger, conv: Conversation, email: str) -> None:
    by_email = {e: u for u, e in conv.keys.emails.items()}
    if email not in by_email or by_email[email] not in conv.members:
        raise UsageError(f"{email} is not a member of this conversation")
    messenger.change_members(conv, "remove", conv.keys.current.get(by_email[email])
                             or _id_only(by_email[email]))
    print(f"removed {email} (a new epoch they cannot open)")


def _leave(messenger: Messenger, conv: Conversation) -> None:
    messenger.change_members(conv, "leave")
    print(f"left {conv.id[:12]}")


def cmd_members(ctx) -> int:
    messenger = _messenger(ctx)
    conv = messenger.load_listed(resolve(messenger, ctx.args.conversation))
    args = ctx.args
    if args.add:
        _add_member(messenger, conv, args.add)
    elif args.remove:
        _remove_member(messenger, conv, args.remove)
    elif args.leave:
        _leave(messenger, conv)
    else:
        admins = conv.chain.state.admins
        _print_alerts(conv)
        for user_id in conv.members:
            marks = [m for m, on in (("admin", user_id in admins),
                                     ("verified", messenger.pins.verified(user_id)),
                                     ("you", user_id == messenger.me.user_id)) if on]
            print(f"{conv.keys.name(user_id)}" + (f"  ({', '.join(marks)})" if marks else ""))
        for user_id in sorted(conv.unconfirmed):
            print(f"{conv.keys.name(user_id)}  (unconfirmed: the server lists them, no signed "
                  "operation added them; they get no key)")
    return 0


def cmd_group(ctx) -> int:
    """``group create|add|remove|leave|rename``: the same actions as ``new --name`` and
    ``members``, named as issue 13 names them."""
    args = ctx.args
    if args.group_command in ("create", "rename") and not args.name.strip():
        raise UsageError("the group name is empty")
    messenger = _messenger(ctx)
    if args.group_command == "create":
        emails = list(dict.fromkeys(args.emails))
        peers = [messenger.lookup_email(e) for e in emails]
        conversation_id = _create(messenger, peers, args.name)
        print(f"group conversation {conversation_id} with {', '.join(emails)}")
        return 0
    conv = messenger.load_listed(resolve(messenger, args.conversation))
    if args.group_command == "add":
        _add_member(messenger, conv, args.email)
    elif args.group_command == "remove":
        _remove_member(messenger, conv, args.email)
    elif args.group_command == "leave":
        _leave(messenger, conv)
    else:
        if conv.kind != "group":
            raise UsageError(f"{conv.id[:12]} is a direct conversation: only a group has a name")
        messenger.change_members(conv, "rename", name=args.name)
        print(f"renamed {conv.id[:12]} to {args.name}")
    return 0


def _id_only(user_id: int):
    from .endorsement import Endorsed

    return Endorsed(user_id, 0, "", b"")


def cmd_safety_number(ctx) -> int:
    messenger = _messenger(ctx)
    keys = messenger.lookup_email(ctx.args.email, refuse_changed=False)
    pin = messenger.pins.get(keys.user_id)
    changed = pin is not None and pin.fingerprints != epochs.MemberEntry.of(keys).fingerprints
    if keys.user_id == messenger.me.user_id:
        raise UsageError("a safety number is shared with someone else")
    mine = safety.UserKeys(messenger.me.user_id, messenger.me.ed25519, messenger.me.recipient)
    theirs = safety.UserKeys(keys.user_id, keys.ed25519, keys.recipient)
    print(f"Safety number with {ctx.args.email}:")
    print(f"  {safety.safety_number(mine, theirs)}")
    if ctx.args.verify:
        messenger.pins.mark_verified(keys)
        print(f"Marked {ctx.args.email} as verified.")
    elif changed:
        print(f"KEY CHANGED: {ctx.args.email} has other keys than you pinned; sending to them "
              "is blocked until you compare this number and mark it (securechat verify "
              f"{ctx.args.email} --mark) or accept the keys (securechat accept-key "
              f"{ctx.args.email})")
    else:
        state = "verified" if messenger.pins.verified(keys.user_id) else "not verified"
        print(f"({state}; compare it with theirs, then mark it: securechat verify "
              f"{ctx.args.email} --mark)")
    messenger.pins.save()
    messenger.state.save()
    return 0


def cmd_contacts(ctx) -> int:
    """The pin blob's contacts: address, user id, pinned key generation, the first 16 hex
    digits of the signing key's SHA-256 (what ``securechat fingerprint`` prints on their
    side) and the verified mark."""
    messenger = _messenger(ctx)
    pins = messenger.pins.contacts
    if not pins:
        print("No pinned contacts yet: keys are pinned the first time you write to someone")
        return 0
    emails = messenger.contact_emails()
    for user_id, pin in sorted(pins.items(), key=lambda i: (emails.get(i[0], "~"), i[0])):
        mark = "verified" if pin.verified else "not verified"
        print(f"{emails.get(user_id, '(address unknown)')}  user {user_id}  "
              f"generation {pin.generation}  key {pin.fingerprints.ed25519_hash.hex()[:16]}  "
              f"{mark}")
    messenger.state.save()
    return 0


def cmd_accept_key(ctx) -> int:
    """Pin a contact's changed keys, unverified: sending to them is no longer blocked."""
    messenger = _messenger(ctx)
    keys = messenger.lookup_email(ctx.args.email, refuse_changed=False)
    if keys.user_id == messenger.me.user_id:
        raise UsageError("your own keys are not a contact's")
    pin = messenger.pins.get(keys.user_id)
    if pin is not None and (pin.generation, pin.fingerprints) == (
            keys.generation, epochs.MemberEntry.of(keys).fingerprints):
        print(f"{ctx.args.email}'s keys (generation {keys.generation}) are the pinned ones "
              "already")
    else:
        messenger.pins.accept(keys)
        print(f"Accepted {ctx.args.email}'s keys of generation {keys.generation} (not "
              f"verified: compare the safety number with securechat verify {ctx.args.email})")
    messenger.pins.save()
    messenger.state.save()
    return 0


def cmd_listen(ctx) -> int:
    from . import listen

    messenger = _messenger(ctx)
    only = resolve(messenger, ctx.args.conversation)["id"] if ctx.args.conversation else None
    try:
        listen.run(messenger, only, lambda conv, entry: _print_entry(conv, entry, ctx.args.json),
                   lambda conv, alert: _print_alert(conv, alert, ctx.args.json))
    except KeyboardInterrupt:
        print("stopped listening", file=sys.stderr)
    return 0


COMMANDS = {
    "conversations": cmd_conversations, "new": cmd_new, "send": cmd_send, "read": cmd_read,
    "history": cmd_read, "listen": cmd_listen, "members": cmd_members, "group": cmd_group,
    "safety-number": cmd_safety_number, "verify": cmd_safety_number,
    "contacts": cmd_contacts, "accept-key": cmd_accept_key, "accept-restore": cmd_accept_restore,
}
