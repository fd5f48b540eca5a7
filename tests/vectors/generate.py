"""Write the v2 client crypto test vectors (tests/vectors/*.json) from the client library.

Run from the repository root (either form)::

    .venv/bin/python -m tests.vectors.generate
    .venv/bin/python tests/vectors/generate.py

Every input is fixed (seeds and salts are SHA-256 expansions of a label), so
the output is byte-identical on every run; ``tests/client/test_vectors.py``
checks that the committed files equal a fresh run, and checks every entry
against the library and against independent code written in the test.
The file formats are those of SPEC-v2-crypto.md ("Vector files"); the extra
files (endorsement, identity, statement_invalid, normalise_invalid, membership,
epoch, notices, filehash, fileclaim, filewriter) are
described in docs/protocol.md. Bytes are lowercase hex. Integers stay below
2^53 so JavaScript's JSON.parse reads them exactly.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import agecrypt  # noqa: E402
from agecrypt import _io as age_io  # noqa: E402
from agecrypt import _rand as age_rand  # noqa: E402
from agecrypt import header as age_header  # noqa: E402
from client import (  # noqa: E402
    _rand,
    derivation,
    endorsement,
    epochs,
    fileclaim,
    filehash,
    identity,
    membership,
    messagebox,
    notices,
    recovery,
    safety,
    signing,
)
from client import fingerprints as fp  # noqa: E402
from client import statements as st  # noqa: E402
from client.normalise import normalise_email  # noqa: E402

HERE = Path(__file__).resolve().parent
PRELOGIN_KEY = bytes.fromhex("5ec0c4a7" * 8)


def det(label: str, n: int) -> bytes:
    """``n`` deterministic bytes named by ``label`` (SHA-256 in counter mode)."""
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{counter}".encode()).digest()
        counter += 1
    return out[:n]


def det_stream(label: str) -> Callable[[int], bytes]:
    """A replay source for the randomness seams that never runs out."""
    state = {"i": 0}

    def source(n: int) -> bytes:
        state["i"] += 1
        return det(f"{label}#{state['i']}", n)

    return source


# --- normalisation -----------------------------------------------------------

EMAILS = [
    "alice@example.com",
    "  Alice@Example.COM\t",
    "\u017ftefan@Example.COM",  # long s
    "\u0131van@example.com",  # dotless i
    "\u0130stanbul@example.com.tr",  # dotted capital I: lower gives i + U+0307
    "\uff33\uff54\uff45\uff46\uff41\uff4e\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
    "Stra\u00dfe@example.de",
    "STRASSE@EXAMPLE.DE",
    "\u212aelvin@example.org",  # Kelvin sign
    "\ufb01le@example.org",  # fi ligature
    "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3@example.gr",  # final sigma before @
    "\u0391\u03a3.\u0392@example.gr",  # sigma before a case-ignorable '.' then a letter
    "Jos\u0065\u0301@example.es",  # e + combining acute -> precomposed
    "\u00a0\u2003bob@example.com\u3000",  # Unicode spaces trimmed
    "\ufeffcarol@example.com",  # BOM trimmed (as JS trim does)
    "\u0085dave@example.com",  # NEL is NOT trimmed (JS trim does not)
    "\u2460@\u2461.example",  # circled digits -> 1@2.example
]
INVALID_EMAILS = ["", "   ", "alice", "@example.com", "alice@", "a@b@c", "\uff20example.com",
                  "alice\uff20"]


def normalise_vectors() -> list:
    return [{"input": e, "normalised": normalise_email(e)} for e in EMAILS]


def prelogin_vectors() -> list:
    return [
        {"prelogin_key": PRELOGIN_KEY.hex(), "email": e,
         "account_salt": derivation.prelogin_salt(PRELOGIN_KEY, e).hex()}
        for e in EMAILS[:9]
    ]


# --- derivation --------------------------------------------------------------

DERIVATION_INPUTS = [
    ("alice@example.com", "correct horse battery staple", 10),
    ("\u017ftefan@Example.COM", "p\u00e4ssw\u00f6rd-\u00fcber-12", 10),
    ("\u0131van@example.com",
     "\u043f\u0430\u0440\u043e\u043b\u044c-\u0441\u0435\u043a\u0440\u0435\u0442", 10),
    ("\uff33\uff54\uff45\uff46\uff41\uff4e\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
     "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44\uff11\uff12", 10),  # full-width: NFKC
    ("Stra\u00dfe@example.de", "Caf\u00e9 au lait 1234", 10),
    ("Stra\u00dfe@example.de", "Cafe\u0301 au lait 1234", 10),  # same master as above (NFKC)
    ("bob@example.com", "\u5bc6\u7801\u5f88\u957f\u5f88\u957f\U0001f511\U0001f511", 10),
    ("bob@example.com", "  spaces are kept  ", 10),
    ("alice@example.com", "correct horse battery staple", 16),
]


def derivation_vectors() -> list:
    out = []
    for email, password, wf in DERIVATION_INPUTS:
        account_salt = derivation.prelogin_salt(PRELOGIN_KEY, email)
        keys = derivation.derive_keys(email, account_salt, password, wf, min_work_factor=10)
        out.append({
            "email": email, "account_salt": account_salt.hex(), "password": password,
            "work_factor": wf, "salt": keys.salt.hex(), "master": keys.master.hex(),
            "auth_key": keys.auth_key.hex(), "wrap_key": keys.wrap_key.hex(),
            "passphrase": keys.passphrase,
        })
    return out


# --- recovery ----------------------------------------------------------------

def _spellings(code: str) -> list[str]:
    """The display form plus ways a person might type it."""
    raw = recovery.parse_code(code)
    sloppy = raw.replace("0", "O").replace("1", "l")
    return [code, code.lower(), " ".join(raw[i:i + 4] for i in range(0, 26, 4)),
            sloppy.lower(), "\t" + raw + "\n"]


def recovery_vectors() -> list:
    out = []
    for i in range(3):
        with _rand.replay(det(f"recovery-code-{i}", 17)):
            code = recovery.generate_code()
        for j, typed in enumerate(_spellings(code)):
            key_type = recovery.KEY_TYPES[(i + j) % 2]
            ident = recovery.recovery_identity(typed, key_type)
            out.append({
                "code": typed, "normalised": recovery.parse_code(typed), "key_type": key_type,
                "seed": recovery.recovery_seed(typed, key_type).hex(), "identity": str(ident),
                "recipient": str(ident.recipient()),
            })
    valid = out[0]["normalised"]
    out.append({"invalid": [
        "", "-----", valid[:25], valid + "0", valid[:25] + "U", valid[:25] + "*",
        valid[:25] + "\u0131",  # dotless i: non-ASCII is refused, not uppercased to I
        valid[:25] + "\uff10",  # full-width zero
        valid[:13] + "_" + valid[13:25], valid[:25] + "\u00df",
    ]})
    return out


# --- keys used by safety, messages, endorsements, identity files ---------------

def ed25519_seed(name: str) -> bytes:
    return det(f"ed25519/{name}", 32)


def age_identity(name: str, key_type: str) -> agecrypt.Identity:
    seed = det(f"age/{name}", 32)
    if key_type == "hybrid":
        return agecrypt.HybridIdentity.from_seed(seed)
    return agecrypt.X25519Identity.from_seed(seed)


def user(name: str, user_id: int, key_type: str) -> safety.UserKeys:
    pub = signing.public_key_bytes(signing.signing_key_from_seed(ed25519_seed(name)))
    return safety.UserKeys(user_id, pub, str(age_identity(name, key_type).recipient()))


def _user_json(u: safety.UserKeys) -> dict:
    return {"user_id": u.user_id, "ed25519": u.ed25519.hex(), "recipient": u.recipient}


def safety_vectors() -> list:
    pairs = [
        (user("alice", 1, "x25519"), user("bob", 2, "x25519")),
        (user("carol", 9007199254740991, "hybrid"), user("dave", 42, "hybrid")),
        (user("erin", 1000, "hybrid"), user("frank", 7, "x25519")),
    ]
    return [
        {"a": _user_json(a), "b": _user_json(b), "F_a": safety.fingerprint(a).hex(),
         "F_b": safety.fingerprint(b).hex(), "safety_number": safety.safety_number(a, b),
         "qr": safety.qr_payload(a, b)}
        for a, b in pairs
    ]


# --- message box and statement -----------------------------------------------

def context(i: int, **over) -> messagebox.MessageContext:
    values = {
        "conversation_id": det(f"conv/{i}", 16), "epoch": 3 + i,
        "envelope_hash": det(f"envelope/{i}", 32), "sender_id": 17 + i, "sender_generation": 1,
        "device_id": det(f"device/{i}", 16), "device_counter": 100 * i,
    }
    values.update(over)
    return messagebox.MessageContext(**values)


def _context_json(c: messagebox.MessageContext) -> dict:
    return {k: (v.hex() if isinstance(v, bytes) else v) for k, v in c.values().items()}


TEXTS = ["", "hello", "Gr\u00fc\u00dfe aus K\u00f6ln \U0001f44b", "x" * 221, "y" * 222,
         "z" * 1000, "\u00e9" * 2500, "w" * 32733]


def _plaintexts() -> list[bytes]:
    out = [messagebox.encode_text(t) for t in TEXTS]
    # Keys in the sender's order, spaces and escapes as the sender wrote them: never re-serialised.
    out.append(b'{"type": "text", "v": 2, "text": "spaced \\u00e9 \\ud83d\\udc4b"}')
    return out


def _message_vector(i: int, plaintext: bytes) -> dict:
    secret, salt, ctx = det(f"epoch-secret/{i}", 32), det(f"box-salt/{i}", 16), context(i)
    with _rand.replay(salt):
        box = messagebox.seal(secret, ctx, plaintext)
    seed = ed25519_seed(f"sender/{i}")
    stmt = messagebox.build_statement(
        ctx, box, client_message_id=det(f"cmid/{i}", 16), kind="text",
        prev_hash=det(f"prev/{i}", 32) if i % 2 else messagebox.ZERO_HASH,
        seen_seq=7 * i, seen_hash=det(f"seen/{i}", 32) if i % 3 else messagebox.ZERO_HASH,
        client_clock_ms=1_795_000_000_000 + i,
    )
    data, sig = messagebox.sign_statement(signing.signing_key_from_seed(seed), stmt)
    return {
        "epoch_secret": secret.hex(), "box_salt": salt.hex(), "context": _context_json(ctx),
        "context_bytes": ctx.to_bytes().hex(),
        "key": messagebox._key(secret, salt, ctx.to_bytes()).hex(),  # intermediate, for debugging
        "plaintext_json": plaintext.decode("utf-8"),
        "padded_len": len(messagebox.pad(plaintext)), "box": box.hex(),
        "statement_fields": {
            "client_message_id": stmt.client_message_id.hex(), "kind": stmt.kind,
            "box_hash": stmt.box_hash.hex(), "prev_hash": stmt.prev_hash.hex(),
            "seen_seq": stmt.seen_seq, "seen_hash": stmt.seen_hash.hex(),
            "client_clock_ms": stmt.client_clock_ms,
        },
        "statement": data.hex(), "message_hash": messagebox.message_hash(data).hex(),
        "ed25519_seed": seed.hex(), "ed25519_public": signing.public_key_bytes(
            signing.signing_key_from_seed(seed)).hex(),
        "signature": sig.hex(),
    }


def _negative(box: bytes, ctx, secret: bytes, error: str, why: str) -> dict:
    return {"box": box.hex(), "context": _context_json(ctx), "epoch_secret": secret.hex(),
            "error": error, "why": why}


def _flip(b: bytes, i: int) -> bytes:
    return b[:i] + bytes([b[i] ^ 0x01]) + b[i + 1:]


def message_negative_vectors(good: dict) -> list:
    secret = bytes.fromhex(good["epoch_secret"])
    box = bytes.fromhex(good["box"])
    salt = bytes.fromhex(good["box_salt"])
    ctx = context(0)
    bad = lambda padded: messagebox._seal_padded(secret, ctx, padded, salt)  # noqa: E731
    body = b'{"v":2,"type":"text","text":"hi"}'
    head = len(body).to_bytes(4, "big") + body
    return [
        _negative(box, context(0, epoch=4), secret, "bad_tag", "another epoch number"),
        _negative(box, context(0, device_counter=1), secret, "bad_tag", "another device counter"),
        _negative(box, context(0, conversation_id=det("conv/other", 16)), secret, "bad_tag",
                  "another conversation"),
        _negative(box, ctx, det("epoch-secret/other", 32), "bad_tag", "another epoch secret"),
        _negative(_flip(box, 1), ctx, secret, "bad_tag", "tampered salt"),
        _negative(_flip(box, 40), ctx, secret, "bad_tag", "tampered ciphertext"),
        _negative(_flip(box, len(box) - 1), ctx, secret, "bad_tag", "tampered tag"),
        _negative(b"\x01" + box[1:], ctx, secret, "bad_format", "unknown version byte"),
        _negative(box[:-1], ctx, secret, "bad_format", "truncated box"),
        _negative(box + b"\x00", ctx, secret, "bad_format", "trailing byte"),
        _negative(b"\x02" + salt + bytes(49152 - 17), ctx, secret, "bad_format",
                  "larger than 48 KiB"),
        _negative(bad(head + b"\x01" + bytes(256 - len(head) - 1)), ctx, secret, "bad_padding",
                  "non-zero padding"),
        _negative(bad((300).to_bytes(4, "big") + body + bytes(256 - len(head))), ctx, secret,
                  "bad_padding", "length beyond the buffer"),
        _negative(bad(head + bytes(1024 - len(head))), ctx, secret, "bad_padding",
                  "padded to a larger bucket than its length needs"),
    ]


def messagebox_vectors() -> list:
    good = [_message_vector(i, p) for i, p in enumerate(_plaintexts())]
    return good + message_negative_vectors(good[0])


def statement_invalid_vectors(good: dict) -> list:
    data = bytes.fromhex(good["statement"])
    parts = st.split_fields(data)

    def rebuild(ps: list[bytes]) -> str:
        return st.encode_fields(ps).hex()

    return [
        {"statement": (data + b"\x00").hex(), "why": "trailing byte"},
        {"statement": data[:-1].hex(), "why": "truncated last field"},
        {"statement": rebuild([b"securechat/v2/messagE", *parts[1:]]), "why": "wrong tag"},
        {"statement": rebuild(parts[:-1]), "why": "a field missing"},
        {"statement": rebuild([*parts, bytes(8)]), "why": "an extra field"},
        {"statement": rebuild([parts[0], parts[1][:15], *parts[2:]]),
         "why": "conversation id of 15 bytes"},
        {"statement": rebuild([*parts[:2], b"\x00" + parts[2], *parts[3:]]),
         "why": "epoch as 9 bytes"},
        {"statement": rebuild([*parts[:9], b"te xt", *parts[10:]]), "why": "kind with a space"},
        {"statement": rebuild([*parts[:9], b"", *parts[10:]]), "why": "empty kind"},
        {"statement": rebuild([*parts[:9], "t\u00e9xt".encode(), *parts[10:]]),
         "why": "non-ASCII kind"},
        {"statement": rebuild([*parts[:11], parts[11] + b"\x00", *parts[12:]]),
         "why": "prev_hash of 33 bytes"},
    ]


# --- endorsement -------------------------------------------------------------

def endorsement_vectors() -> list:
    out = []
    for i, key_type in enumerate(("x25519", "hybrid")):
        old_seed, new_seed = ed25519_seed(f"gen1/{i}"), ed25519_seed(f"gen2/{i}")
        old, new = signing.signing_key_from_seed(old_seed), signing.signing_key_from_seed(new_seed)
        gens = [(1, old, age_identity(f"gen1/{i}", key_type)),
                (2, new, age_identity(f"gen2/{i}", key_type))]
        for number, key, ident in gens:
            signer_seed, signer = (old_seed, old) if number == 2 else (new_seed, new)
            endorsed = endorsement.Endorsed(50 + i, number, str(ident.recipient()),
                                            signing.public_key_bytes(key))
            data, sig = endorsement.sign_endorsement(signer, endorsed)
            out.append({
                "user_id": endorsed.user_id, "generation": number,
                "recipient": endorsed.recipient, "ed25519": endorsed.ed25519.hex(),
                "signer_seed": signer_seed.hex(),
                "signer_public": signing.public_key_bytes(signer).hex(),
                "statement": data.hex(), "signature": sig.hex(),
            })
    return out


# --- identity file -----------------------------------------------------------

def identity_vectors(derived: dict) -> list:
    code = recovery_vectors()[0]["code"]
    rec = recovery.recovery_identity(code, "x25519")
    with _rand.replay(det_stream("identity-file")):
        f = identity.IdentityFile.create("x25519", str(rec.recipient()))
        f = f.with_new_generation("x25519")
    with age_rand.replay(det_stream("identity-wrap")):
        wrapped = identity.wrap_with_passphrase(f, derived["passphrase"])
        recovery_copy = identity.wrap_to_recovery(f)
    return [{
        "identity_file": f.serialize().decode("utf-8"),
        "signing_generation": f.signing_generation,
        "signing_public": f.signing_public_key().hex(),
        "generations": [{"number": n, "recipient": str(i.recipient())} for n, i in f.generations],
        "recovery_code": code, "recovery_key_type": "x25519",
        "recovery_recipient": f.recovery_recipient,
        "passphrase": derived["passphrase"], "wrapped": wrapped.hex(),
        "recovery_copy": recovery_copy.hex(),
    }]


# --- groups: membership chain, epochs, notices, file hashes --------------------

GROUP_USERS = [("Alice", 1), ("Bob", 2), ("Carol", 3), ("Dave", 4), ("Eve", 66)]
GROUP_CONV = det("group/conversation", 16)


def group_user(name: str) -> tuple:
    """``(signing key, age identity, Endorsed)`` of a group vector user (generation 1)."""
    user_id = dict(GROUP_USERS)[name]
    key = signing.signing_key_from_seed(ed25519_seed(f"group/{name}"))
    ident = age_identity(f"group/{name}", "x25519")
    return key, ident, endorsement.Endorsed(user_id, 1, str(ident.recipient()),
                                            signing.public_key_bytes(key))


def group_users_json() -> list:
    out = []
    for name, _ in GROUP_USERS:
        _, ident, keys = group_user(name)
        prints = fp.of(keys)
        out.append({"name": name, "user_id": keys.user_id, "generation": keys.generation,
                    "ed25519_seed": ed25519_seed(f"group/{name}").hex(),
                    "ed25519": keys.ed25519.hex(), "identity": str(ident),
                    "recipient": keys.recipient, "recipient_hash": prints.recipient_hash.hex(),
                    "ed25519_hash": prints.ed25519_hash.hex()})
    return out


def group_key_lookup(user_id: int, generation: int):
    for name, uid in GROUP_USERS:
        if uid == user_id and generation == 1:
            return group_user(name)[2]
    return None


def _name_of(user_id: int) -> str:
    return {uid: name for name, uid in GROUP_USERS}[user_id]


# (actor, kind, target, argument) for each operation of the vector chain, in order.
CHAIN_SCRIPT = [
    ("Alice", "create", "Alice", b""),
    ("Alice", "add", "Bob", b""),
    ("Alice", "add", "Carol", b""),
    ("Alice", "grant-admin", "Bob", b""),
    ("Bob", "rename", None, b""),
    ("Alice", "set-expiry", None, membership.expiry_argument(86400)),
    ("Bob", "add", "Dave", b""),
    ("Bob", "remove", "Carol", b""),
    ("Dave", "leave", None, b""),
    ("Alice", "revoke-admin", "Bob", b""),
]


def group_op(index: int, prev: bytes, actor: str, kind: str, target: str | None,
             argument: bytes = b"", **over) -> membership.Operation:
    keys = group_user(target)[2] if target else None
    shape = membership.KINDS.get(kind, ("id", 0))[0]
    prints = fp.of(keys) if keys and shape in ("keys", "self") else fp.NONE
    values = dict(
        conversation_id=GROUP_CONV, index=index, prev_hash=prev,
        actor_id=group_user(actor)[2].user_id, actor_generation=1, kind=kind,
        target_id=keys.user_id if keys else 0,
        target_generation=1 if keys and shape in ("keys", "self") else 0,
        target_recipient_hash=prints.recipient_hash, target_ed25519_hash=prints.ed25519_hash,
        argument=argument, client_clock_ms=1_795_000_100_000 + 1000 * index,
    )
    values.update(over)
    return membership.Operation(**values)


def sign_group_op(actor: str, op: membership.Operation) -> tuple[bytes, bytes]:
    data = op.to_bytes()  # unchecked: negative vectors sign shapes sign_operation refuses
    return data, signing.sign(group_user(actor)[0], data)


def group_chain() -> list[tuple[bytes, bytes]]:
    ops, prev = [], membership.ZERO_HASH
    for i, (actor, kind, target, arg) in enumerate(CHAIN_SCRIPT):
        data, sig = membership.sign_operation(group_user(actor)[0],
                                              group_op(i, prev, actor, kind, target, arg))
        ops.append((data, sig))
        prev = membership.operation_hash(data)
    return ops


def _op_json(data: bytes, sig: bytes, line: str) -> dict:
    op = membership.parse_operation(data)
    fields = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in op.__dict__.items()}
    return {"fields": fields, "statement": data.hex(),
            "operation_hash": membership.operation_hash(data).hex(), "signature": sig.hex(),
            "line": line}


def _state_json(state: membership.ChainState) -> dict:
    return {"index": state.index, "head": state.head.hex(), "admins": sorted(state.admins),
            "expiry_seconds": state.expiry_seconds, "renames": state.renames,
            "members": [{"user_id": m.user_id, "generation": m.generation,
                         "recipient_hash": m.fingerprints.recipient_hash.hex(),
                         "ed25519_hash": m.fingerprints.ed25519_hash.hex(),
                         "vouched_by": m.vouched_by}
                        for m in (state.members[u] for u in sorted(state.members))]}


def _pairs_json(pairs) -> list:
    return [[d.hex(), s.hex()] for d, s in pairs]


def _flip_sig(pair: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    return pair[0], _flip(pair[1], 10)


def membership_negative_vectors(ops: list) -> list:
    h = [membership.operation_hash(d) for d, _ in ops]
    bad = [
        ([ops[0], ops[2]], "chain_order", "a gap (index 1 missing)"),
        ([*ops[:3], ops[2]], "chain_order", "a repeated (replayed) operation"),
        ([ops[0], ops[2], ops[1]], "chain_order", "two operations reordered"),
        ([ops[1]], "chain_order", "a chain that does not start with create"),
        ([*ops[:2], sign_group_op("Alice", group_op(2, h[0], "Alice", "add", "Carol"))],
         "chain_link", "previous hash of another operation"),
        ([*ops[:2], sign_group_op("Alice", group_op(2, h[1], "Alice", "promote", "Carol"))],
         "unknown_kind", "an unknown kind"),
        ([*ops[:2], _flip_sig(ops[2])], "bad_signature", "a forged signature"),
        ([*ops[:2], (ops[2][0], signing.sign(group_user("Bob")[0], ops[2][0]))],
         "bad_signature", "signed by another member than the actor"),
        ([*ops, sign_group_op("Alice", group_op(4, h[3], "Alice", "rename", None))], "fork",
         "a second, different operation with index 4"),
        ([*ops[:8], sign_group_op("Carol", group_op(8, h[7], "Carol", "leave", None))],
         "not_authorized", "a removed member acting"),
        ([*ops[:3], sign_group_op("Carol", group_op(3, h[2], "Carol", "add", "Eve"))],
         "not_authorized", "a member who is not an admin adds"),
        ([*ops[:3], sign_group_op("Alice", group_op(3, h[2], "Alice", "add", "Bob"))],
         "not_authorized", "adding a member twice"),
        ([*ops[:3], sign_group_op("Alice", group_op(3, h[2], "Alice", "remove", "Alice"))],
         "not_authorized", "an admin removing itself (that is a leave)"),
        ([*ops[:2], sign_group_op("Alice", group_op(2, h[1], "Alice", "add", "Carol",
                                                    actor_generation=2))],
         "unknown_key", "an actor generation with no accepted key"),
        ([*ops[:2], sign_group_op("Alice", group_op(2, h[1], "Alice", "rename", None, b"x"))],
         "bad_membership", "rename with an argument"),
        ([*ops[:2], sign_group_op("Alice", group_op(2, h[1], "Alice", "add", "Carol",
                                                    target_generation=0))],
         "bad_membership", "add without the target's generation"),
        ([*ops[:2], sign_group_op("Alice", group_op(2, h[1], "Alice", "add", "Carol",
                                                    conversation_id=det("conv/x", 16)))],
         "chain_order", "an operation of another conversation"),
    ]
    out = [{"operations": _pairs_json(pairs), "error": code, "why": why, "max_members": 100}
           for pairs, code, why in bad]
    out.append({"operations": _pairs_json(ops[:3]), "error": "member_limit",
                "why": "a third member with a limit of 2", "max_members": 2})
    return out


def membership_vectors() -> list:
    ops = group_chain()
    chain = membership.MembershipChain.replay(ops, group_key_lookup)
    lines = chain.lines(_name_of)
    return [
        {"users": group_users_json(), "conversation_id": GROUP_CONV.hex()},
        {"chain": [_op_json(d, s, line) for (d, s), line in zip(ops, lines, strict=True)],
         "max_members": 100, "final_state": _state_json(chain.state),
         "states": [_state_json(chain.state_at(membership.operation_hash(d))) for d, _ in ops]},
        *membership_negative_vectors(ops),
    ]


# --- epochs ------------------------------------------------------------------

def _epoch_json(envelope: bytes, data: bytes, sig: bytes, secret: bytes, chain_length: int,
                name: str) -> dict:
    stmt = epochs.parse_epoch_statement(data)
    return {
        "chain_length": chain_length, "conversation_id": stmt.conversation_id.hex(),
        "epoch": stmt.epoch, "prev_envelope_hash": stmt.prev_envelope_hash.hex(),
        "chain_head": stmt.chain_head.hex(), "members_bytes": epochs.encode_members(
            stmt.members).hex(), "creator_id": stmt.creator_id,
        "creator_generation": stmt.creator_generation, "name": name, "secret": secret.hex(),
        "plaintext": epochs.encode_plaintext(stmt.conversation_id, stmt.epoch, secret,
                                             name).decode("utf-8"),
        "envelope": envelope.hex(), "envelope_hash": stmt.envelope_hash.hex(),
        "statement": data.hex(), "signature": sig.hex(),
        "stanzas": len(stmt.members),
    }


def _build_epoch(label: str, creator: str, members: list[str], chain_length: int, number: int,
                 prev: bytes, name: str):
    ops = group_chain()[:chain_length]
    head = membership.operation_hash(ops[-1][0])
    with _rand.replay(det_stream(f"{label}/secret")), age_rand.replay(det_stream(label)):
        return epochs.build_epoch(
            group_user(creator)[0], group_user(creator)[2], conversation_id=GROUP_CONV,
            epoch=number, prev_envelope_hash=prev, chain_head=head,
            members=[group_user(m)[2] for m in members], name=name)


def _forged_epoch(label: str, creator: str, recipients: list[str], listed: list[str],
                  chain_length: int, plaintext: bytes) -> tuple[bytes, bytes, bytes]:
    """An envelope to ``recipients`` whose statement lists ``listed``, signed by ``creator``."""
    ops = group_chain()[:chain_length]
    with age_rand.replay(det_stream(label)):
        envelope = agecrypt.encrypt(plaintext, [group_user(r)[1].recipient() for r in recipients])
    creator_keys = group_user(creator)[2]
    stmt = epochs.EpochStatement(
        GROUP_CONV, 1, bytes(32), membership.operation_hash(ops[-1][0]),
        tuple(epochs.MemberEntry.of(group_user(m)[2]) for m in listed),
        creator_keys.user_id, 1, hashlib.sha256(envelope).digest())
    data = stmt.to_bytes()
    return envelope, data, signing.sign(group_user(creator)[0], data)


def _swapped_epoch(data: bytes, plain: bytes) -> tuple[bytes, bytes, bytes]:
    """Alice signs an epoch whose entry for Carol holds Eve's keys (a server-supplied key)."""
    good = epochs.parse_epoch_statement(data)
    members = (*good.members[:2], epochs.MemberEntry(3, 1, fp.of(group_user("Eve")[2])))
    with age_rand.replay(det_stream("epoch/swapped")):
        envelope = agecrypt.encrypt(plain, [group_user(n)[1].recipient()
                                            for n in ["Alice", "Bob", "Eve"]])
    stmt = epochs.EpochStatement(GROUP_CONV, 1, bytes(32), good.chain_head, members, 1, 1,
                                 hashlib.sha256(envelope).digest()).to_bytes()
    return envelope, stmt, signing.sign(group_user("Alice")[0], stmt)


def epoch_negative_vectors(first: tuple) -> list:
    envelope, data, sig, secret = first
    three = ["Alice", "Bob", "Carol"]
    plain = epochs.encode_plaintext(GROUP_CONV, 1, secret, "Book club")
    swapped = _swapped_epoch(data, plain)
    with age_rand.replay(det_stream("epoch/slipped")):
        slipped = agecrypt.encrypt(plain, [group_user(n)[1].recipient() for n in [*three, "Eve"]])
    cases = [
        ((slipped, data, sig), "Bob", "bad_epoch", "the server slipped in an extra stanza"),
        (_forged_epoch("epoch/extra", "Alice", [*three, "Eve"], three, 3, plain), "Bob",
         "bad_epoch", "the creator signed an envelope with a stanza more than its members"),
        ((envelope, data, _flip(sig, 5)), "Bob", "bad_signature", "a forged signature"),
        ((_build_epoch("epoch/other", "Alice", three, 3, 1, bytes(32), "Book club")[0], data, sig),
         "Bob", "bad_epoch", "an envelope with another secret under the original signature"),
        (swapped, "Carol", "not_my_key", "Carol's entry holds another key"),
        (swapped, "Bob", "pin_mismatch", "a member key swapped (Bob pinned Carol)"),
        (_forged_epoch("epoch/garbage", "Alice", ["Alice", "Eve", "Carol"], three, 3, plain),
         "Bob", "cannot_open", "Bob's stanza is to another key"),
        (_forged_epoch("epoch/plaintext", "Alice", three, three, 3,
                       epochs.encode_plaintext(GROUP_CONV, 2, secret, "Book club")),
         "Bob", "bad_epoch", "the plaintext names another epoch number"),
        (_forged_epoch("epoch/missing", "Alice", ["Alice", "Bob"], ["Alice", "Bob"], 3, plain),
         "Bob", "bad_epoch", "a member of the chain missing from the list"),
        (_forged_epoch("epoch/head", "Alice", three, three, 2, plain), "Bob", "bad_epoch",
         "the list differs from the chain state at the signed head"),
        (_forged_epoch("epoch/eve", "Eve", three, three, 3, plain), "Bob", "bad_epoch",
         "created by someone who is not a member"),
    ]
    return [{"reader": group_user(reader)[2].user_id, "envelope": e.hex(), "statement": d.hex(),
             "signature": s.hex(), "chain_length": 3, "error": code, "why": why}
            for (e, d, s), reader, code, why in cases]


def epoch_vectors() -> list:
    first = _build_epoch("epoch/1", "Alice", ["Alice", "Bob", "Carol"], 3, 1, bytes(32),
                         "Book club")
    second = _build_epoch("epoch/2", "Bob", ["Alice", "Bob", "Dave"], 8, 2,
                          hashlib.sha256(first[0]).digest(), "Book club \u00b7 2026")
    return [_epoch_json(*first, 3, "Book club"),
            _epoch_json(*second, 8, "Book club \u00b7 2026"),
            *epoch_negative_vectors(first)]


# --- notices and pins --------------------------------------------------------

def cannot_open_vectors(epoch: dict) -> list:
    notice = notices.CannotOpen(GROUP_CONV, epoch["epoch"], bytes.fromhex(epoch["envelope_hash"]),
                                epoch["creator_id"], 2, 1, 1_795_000_200_000)
    data, sig = notices.sign_cannot_open(group_user("Bob")[0], notice)
    return [{"type": "cannot-open", "conversation_id": GROUP_CONV.hex(), "epoch": notice.epoch,
             "envelope_hash": notice.envelope_hash.hex(), "creator_id": notice.creator_id,
             "reporter_id": 2, "reporter_generation": 1, "client_clock_ms": notice.client_clock_ms,
             "statement": data.hex(), "signature": sig.hex()}]


def _pins(*names_verified) -> dict:
    return {group_user(n)[2].user_id: notices.Pin(1, fp.of(group_user(n)[2]), v)
            for n, v in names_verified}


def pin_vectors() -> list:
    key, ident, owner = group_user("Alice")
    pinset = notices.PinSet(1, 7, _pins(("Bob", True), ("Carol", False), ("Dave", False)))
    with age_rand.replay(det_stream("pins/blob")):
        blob = notices.seal_pin_blob(key, owner, pinset)
    data = st.split_fields(agecrypt.decrypt(blob, [ident]))
    local = notices.PinSet(1, 7, _pins(("Bob", False), ("Carol", True)))
    remote = notices.PinSet(1, 8, _pins(("Bob", True), ("Dave", False)))
    merged, conflicts = notices.merge(local, remote)
    return [
        {"type": "pins", "owner_id": 1, "owner_generation": 1, "version": 7,
         "content": notices.encode_content(pinset.contacts).decode("ascii"),
         "statement": data[0].hex(), "signature": data[1].hex(), "blob": blob.hex()},
        {"type": "pins-merge", "local": notices.encode_content(local.contacts).decode("ascii"),
         "local_version": 7, "remote": notices.encode_content(remote.contacts).decode("ascii"),
         "remote_version": 8, "merged": notices.encode_content(merged.contacts).decode("ascii"),
         "merged_version": merged.version, "conflicts": list(conflicts)},
    ]


# --- file hash ---------------------------------------------------------------

def _filehash_parts(data: bytes) -> dict:
    info = agecrypt.inspect(io.BytesIO(data))
    payload = data[info.payload_offset:]
    chunks = [payload[i:i + 65552] for i in range(0, len(payload), 65552)]
    return {"header_nonce_hash": hashlib.sha256(data[:info.payload_offset]).hexdigest(),
            "chunk_hashes": [hashlib.sha256(c).hexdigest() for c in chunks]}


def filehash_vectors() -> list:
    ident = age_identity("file/one-time", "x25519")
    out = []
    for n in (0, 100, 65536, 65537):
        with age_rand.replay(det_stream(f"file/{n}")):
            data = agecrypt.encrypt(det(f"file/plaintext/{n}", n), [ident.recipient()])
        out.append({"identity": str(ident), "plaintext_len": n, "file": data.hex(),
                    **_filehash_parts(data), "file_hash": filehash.file_hash(data).hex()})
    small, h = bytes.fromhex(out[1]["file"]), out[1]["file_hash"]
    for bad, code, why in [
        (small[:-1], "file_hash_mismatch", "one byte short (still a possible length)"),
        (small[:40], "bad_file", "ends inside the header"),
        (small[: small.index(b"\n---") + 60], "bad_file", "ends inside the nonce"),
        (_flip(small, len(small) - 3), "file_hash_mismatch", "a flipped ciphertext byte"),
        (bytes.fromhex(out[2]["file"]) + bytes(16), "bad_file",
         "an empty final chunk after a full one"),
        (b"age-encryption.org/v2\n" + small[22:], "bad_file", "not an age header"),
    ]:
        out.append({"file": bad.hex(), "expected": h, "error": code, "why": why})
    return out


# --- file writer (the browser's upload writer, static/js/v2/files/agewriter.js) ------

WRITER_SIZES = (0, 1, 65536, 65537, 3 * 65536 + 5)


def writer_plaintext(n: int) -> bytes:
    """The vectors' plaintext: byte i is (i * 31 + n) mod 256 (cheap to rebuild in JS)."""
    return bytes((i * 31 + n) % 256 for i in range(n))


def filewriter_vectors() -> list:
    """agecrypt's output for fixed identity, file key and nonce: the writer must match it.

    X25519 only: a hybrid stanza draws its encapsulation inside OpenSSL and is never
    reproducible (agecrypt/_rand.py), and the writer takes its stanzas from typage anyway.
    """
    ident = age_identity("filewriter/one-time", "x25519")
    out = []
    for n in WRITER_SIZES:
        with age_rand.replay(det_stream(f"filewriter/{n}")):
            data = agecrypt.encrypt(writer_plaintext(n), [ident.recipient()])
        info = agecrypt.inspect(io.BytesIO(data))
        header = data[:info.payload_offset - 16]
        parsed = age_header.parse_header(age_io.Source(io.BytesIO(header)))
        file_key = age_header.unwrap_file_key(parsed, [ident])
        payload = data[info.payload_offset:]
        chunks = [payload[i:i + 65552] for i in range(0, len(payload), 65552)]
        out.append({
            "key_type": "x25519", "identity": str(ident), "plaintext_len": n,
            "file_key": file_key.hex(), "nonce": data[len(header):info.payload_offset].hex(),
            "stanzas": [{"type": s.type, "args": list(s.args), "body": s.body.hex()}
                        for s in parsed.stanzas],
            "header": header.hex(), "file_length": len(data),
            "file_sha256": hashlib.sha256(data).hexdigest(),
            "chunk_sha256": [hashlib.sha256(c).hexdigest() for c in chunks],
            "file_hash": filehash.file_hash(data).hex(),
            **({"file": data.hex()} if n <= 1 else {}),
        })
    return out


# --- file claim --------------------------------------------------------------

def fileclaim_vectors() -> list:
    key, _, bob = group_user("Bob")
    claim = fileclaim.FileClaim(GROUP_CONV, det("fileclaim/client-message-id", 16),
                                det("fileclaim/upload-id", 16), bob.user_id, bob.generation)
    data, sig = fileclaim.sign_file_claim(key, claim)
    good = {"conversation_id": GROUP_CONV.hex(), "client_message_id": claim.client_message_id.hex(),
            "upload_id": claim.upload_id.hex(), "sender_id": bob.user_id,
            "sender_generation": bob.generation, "ed25519": bob.ed25519.hex(),
            "statement": data.hex(), "signature": sig.hex()}
    parts = st.split_fields(data)
    out = [good]
    for bad, code, why in [
        (st.encode_fields([b"securechat/v2/file", *parts[1:]]), "bad_statement", "another tag"),
        (st.encode_fields([*parts[:3], parts[3][:15], *parts[4:]]), "bad_statement",
         "a 15-byte upload id"),
        (data + b"\x00", "bad_statement", "a trailing byte"),
        (st.encode_fields([*parts[:4], st.u64(bob.user_id + 1), parts[5]]), "bad_signature",
         "another sender id under the same signature"),
    ]:
        out.append({"statement": bad.hex(), "signature": sig.hex(), "ed25519": bob.ed25519.hex(),
                    "error": code, "why": why})
    return out


def build_all() -> dict[str, list]:
    """Every vector file's content, keyed by file name."""
    derived = derivation_vectors()
    boxes = messagebox_vectors()
    return {
        "normalise.json": normalise_vectors(),
        "normalise_invalid.json": [{"input": e} for e in INVALID_EMAILS],
        "prelogin.json": prelogin_vectors(),
        "derivation.json": derived,
        "recovery.json": recovery_vectors(),
        "safety.json": safety_vectors(),
        "messagebox.json": boxes,
        "statement_invalid.json": statement_invalid_vectors(boxes[1]),
        "endorsement.json": endorsement_vectors(),
        "identity.json": identity_vectors(derived[0]),
        "membership.json": membership_vectors(),
        "epoch.json": (epoch := epoch_vectors()),
        "notices.json": cannot_open_vectors(epoch[0]) + pin_vectors(),
        "filehash.json": filehash_vectors(),
        "fileclaim.json": fileclaim_vectors(),
        "filewriter.json": filewriter_vectors(),
    }


def dump(data: list) -> str:
    return json.dumps(data, indent=1, ensure_ascii=True) + "\n"


def main() -> int:
    for name, data in build_all().items():
        (HERE / name).write_text(dump(data), encoding="ascii")
        print(f"wrote tests/vectors/{name} ({len(data)} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
