// Membership operations as signed statements, and the chain verifier (docs/protocol.md
// §15, client/membership.py):
//   operation = statement("securechat/v2/membership", conversation_id(16), u64 index,
//       prev_hash(32), u64 actor_id, u64 actor_generation, ascii(kind), u64 target_id,
//       u64 target_generation, target_recipient_hash(32), target_ed25519_hash(32),
//       argument(raw), u64 client_clock_ms)
//   operation_hash = SHA-256(operation);  signature = Ed25519 by the actor's generation
// Index 0 is `create` (prev_hash zeros, the creator as its own target); each later
// operation names the hash of the one before. Targets and arguments per kind are fixed
// (KINDS, decisions 11–13). MembershipChain replays from `create`, verifying each
// signature with the key its lookup returns (pinned or accepted keys only) and judging
// authority in the state *before* the operation. Ids, generations and numbers are BigInt.
// A key lookup is (userId: BigInt, generation: BigInt) → {recipient, ed25519} or null.
import { sha256 } from "@noble/hashes/sha2.js";

import { bytesEqual, requireBytes, toHex, u64be } from "./bytes.js";
import { ForkDetected, MembershipError, UnknownKeyError, UsageError } from "./errors.js";
import { big, fingerprintsOf, isNoKey, sameFingerprints, ZERO_HASH } from "./fingerprints.js";
import { signStatement, verifyStatement } from "./message.js";
import { parseStatement, readFields, statement, token } from "./statement.js";

export const MEMBERSHIP_TAG = "securechat/v2/membership";
export const DEFAULT_MAX_MEMBERS = 100;
const FIELDS = [
  ["conversationId", 16], ["index", "u64"], ["prevHash", 32], ["actorId", "u64"],
  ["actorGeneration", "u64"], ["kind", "token"], ["targetId", "u64"],
  ["targetGeneration", "u64"], ["targetRecipientHash", 32], ["targetEd25519Hash", 32],
  ["argument", "raw"], ["clientClockMs", "u64"],
];
// kind → [target shape, argument length]: "self" = the actor with its keys, "keys" =
// another user with generation and fingerprints, "id" = by id only, "none" = all zeros.
export const KINDS = Object.freeze({
  create: ["self", 0], add: ["keys", 0], remove: ["id", 0], leave: ["none", 0],
  "grant-admin": ["id", 0], "revoke-admin": ["id", 0], rename: ["none", 0],
  "set-expiry": ["none", 8],
});

/** The statement bytes of an operation (absent target fields and argument are zeros). */
export function membershipStatement(op) {
  return statement(MEMBERSHIP_TAG,
    requireBytes(op.conversationId, "conversation id", 16), u64be(op.index),
    requireBytes(op.prevHash, "previous hash", 32), u64be(op.actorId),
    u64be(op.actorGeneration), token(op.kind), u64be(op.targetId ?? 0),
    u64be(op.targetGeneration ?? 0),
    requireBytes(op.targetRecipientHash ?? ZERO_HASH, "target recipient hash", 32),
    requireBytes(op.targetEd25519Hash ?? ZERO_HASH, "target Ed25519 hash", 32),
    requireBytes(op.argument ?? new Uint8Array(0), "argument"), u64be(op.clientClockMs));
}

/** The `set-expiry` argument: u64 seconds, 0 turns expiry off. */
export function expiryArgument(seconds) {
  return u64be(seconds);
}

/** SHA-256 of the operation's bytes (the next operation's prevHash). */
export function operationHash(bytes) {
  return sha256(requireBytes(bytes, "operation"));
}

const refuse = (code, message) => new MembershipError(code, message);

/** Refuses an operation whose target or argument is not the shape KINDS fixes. */
function checkShape(op) {
  if (!Object.hasOwn(KINDS, op.kind)) throw refuse("unknown_kind", "unknown operation kind");
  const [target, argLength] = KINDS[op.kind];
  if (op.argument.length !== argLength) {
    throw refuse("bad_membership", `${op.kind} takes an argument of ${argLength} bytes`);
  }
  const prints = { recipientHash: op.targetRecipientHash, ed25519Hash: op.targetEd25519Hash };
  const hasKeys = op.targetGeneration !== 0n || !isNoKey(prints);
  if (target === "none" && (op.targetId !== 0n || hasKeys)) {
    throw refuse("bad_membership", `${op.kind} has no target`);
  }
  if (target === "id" && (op.targetId === 0n || hasKeys)) {
    throw refuse("bad_membership", `${op.kind} names its target by id only`);
  }
  if ((target === "keys" || target === "self")
    && (op.targetId === 0n || op.targetGeneration === 0n || isNoKey(prints))) {
    throw refuse("bad_membership", `${op.kind} carries the target's generation and keys`);
  }
  if (target === "self" && (op.targetId !== op.actorId
    || op.targetGeneration !== op.actorGeneration)) {
    throw refuse("bad_membership", "create names its creator as the target");
  }
  if ((op.kind === "create") !== (op.index === 0n)) {
    throw refuse("chain_order", "a chain starts with create, and only there");
  }
  if (op.index === 0n && !bytesEqual(op.prevHash, ZERO_HASH)) {
    throw refuse("chain_link", "create has no previous operation");
  }
}

/**
 * The operation's fields (u64 as BigInt); StatementError if not canonical, MembershipError
 * (unknown_kind, bad_membership, chain_order, chain_link) if its shape is wrong for its kind.
 */
export function parseOperation(bytes) {
  const op = readFields(FIELDS, parseStatement(bytes, MEMBERSHIP_TAG));
  checkShape(op);
  return op;
}

/** {statement, signature} by the actor's 32-byte seed; shape checked; clock 0 = now. */
export function signOperation(seed, op) {
  const clientClockMs = big(op.clientClockMs ?? 0) === 0n ? Date.now() : op.clientClockMs;
  const bytes = membershipStatement({ ...op, clientClockMs });
  parseOperation(bytes);
  return { statement: bytes, signature: signStatement(seed, bytes) };
}

/** The timeline line of `op`; `name(userId: BigInt)` gives a display name. */
export function describe(op, name) {
  const actor = name(op.actorId);
  const target = op.targetId ? name(op.targetId) : "";
  if (op.kind === "set-expiry") {
    const seconds = new DataView(op.argument.buffer, op.argument.byteOffset, 8).getBigUint64(0);
    return seconds === 0n ? `${actor} turned off disappearing messages`
      : `${actor} set messages to disappear after ${seconds} seconds`;
  }
  return {
    create: `${actor} created the conversation`, add: `${actor} added ${target}`,
    remove: `${actor} removed ${target}`, leave: `${actor} left`,
    "grant-admin": `${actor} made ${target} an admin`,
    "revoke-admin": `${actor} removed ${target} as an admin`,
    rename: `${actor} renamed the conversation`,
  }[op.kind];
}

// --- state -------------------------------------------------------------------------------

function authorize(ok, why) {
  if (!ok) throw refuse("not_authorized", why);
}

function memberOf(op, userId, generation) {
  return { userId, generation, recipientHash: op.targetRecipientHash,
    ed25519Hash: op.targetEd25519Hash, vouchedBy: op.actorId };
}

/** The state after a targeted kind (add, remove, grant-admin, revoke-admin). */
function applyTargeted(state, op, members, admins, maxMembers) {
  if (op.kind === "add") {
    authorize(!state.members.has(op.targetId), "the target is already a member");
    if (members.size + 1 > maxMembers) throw refuse("member_limit", "at the member limit");
    members.set(op.targetId, memberOf(op, op.targetId, op.targetGeneration));
    return;
  }
  authorize(state.members.has(op.targetId), "the target is not a member");
  authorize(op.kind !== "remove" || op.targetId !== op.actorId, "a member leaves, not removes");
  authorize(op.kind !== "grant-admin" || !admins.has(op.targetId), "already an admin");
  authorize(op.kind !== "revoke-admin" || admins.has(op.targetId), "not an admin");
  if (op.kind === "remove") members.delete(op.targetId);
  if (op.kind === "grant-admin") admins.add(op.targetId);
  else admins.delete(op.targetId);
}

/** The state after `op`, judged in `state` (the state before it; null before create). */
function apply(state, op, head, maxMembers) {
  if (state === null) {
    return Object.freeze({ conversationId: op.conversationId, index: 0n, head,
      members: new Map([[op.actorId, memberOf(op, op.actorId, op.actorGeneration)]]),
      admins: new Set([op.actorId]), expirySeconds: 0n, renames: 0n });
  }
  authorize(state.members.has(op.actorId), "the actor is not a member");
  const members = new Map(state.members);
  const admins = new Set(state.admins);
  let { expirySeconds, renames } = state;
  if (op.kind === "leave") {
    members.delete(op.actorId);
    admins.delete(op.actorId);
  } else {
    authorize(admins.has(op.actorId), `only an admin may ${op.kind}`);
  }
  if (op.kind === "set-expiry") {
    expirySeconds = new DataView(op.argument.buffer, op.argument.byteOffset, 8).getBigUint64(0);
  } else if (op.kind === "rename") {
    renames += 1n;
  } else if (op.kind !== "leave") {
    applyTargeted(state, op, members, admins, maxMembers);
  }
  return Object.freeze({ conversationId: state.conversationId, index: op.index, head,
    members, admins, expirySeconds, renames });
}

/**
 * Members of `state` whose vouched keys differ from the keys `keyLookup` pinned or
 * accepted for that generation (sorted BigInt ids). Non-empty is an alert: e.g. the
 * server handed the adder a wrong key.
 */
export function disputedMembers(state, keyLookup) {
  const ids = [...state.members.keys()].sort((a, b) => (a < b ? -1 : 1));
  return ids.filter((id) => {
    const member = state.members.get(id);
    const keys = keyLookup(id, member.generation);
    return Boolean(keys) && !sameFingerprints(fingerprintsOf(keys), member);
  });
}

// --- the verifier ------------------------------------------------------------------------

/**
 * Verifies a conversation's membership chain operation by operation. `append` refuses,
 * leaving the chain unchanged: UnknownKeyError, SignatureError, StatementError,
 * MembershipError (chain_order: gap, repeat, reorder, another conversation; chain_link;
 * unknown_kind; bad_membership; not_authorized; member_limit) and ForkDetected.
 */
export class MembershipChain {
  #keyLookup;
  #maxMembers;
  #entries = [];
  #states = new Map(); // hex(head) → state
  #state = null;

  constructor(keyLookup, maxMembers = DEFAULT_MAX_MEMBERS) {
    if (typeof keyLookup !== "function") throw new UsageError("a key lookup is a function");
    this.#keyLookup = keyLookup;
    this.#maxMembers = Number(maxMembers);
  }

  /** A chain verified from create over [{statement, signature}] in order. */
  static replay(operations, keyLookup, maxMembers = DEFAULT_MAX_MEMBERS) {
    const chain = new MembershipChain(keyLookup, maxMembers);
    for (const { statement: bytes, signature } of operations) chain.append(bytes, signature);
    return chain;
  }

  /** The state after the last operation; UsageError for an empty chain. */
  get state() {
    if (this.#state === null) throw new UsageError("the chain is empty");
    return this.#state;
  }

  /** The verified state whose head is `head` (32 bytes), or null. */
  stateAt(head) {
    return this.#states.get(toHex(requireBytes(head, "head", 32))) ?? null;
  }

  /** The verified operations, in order (parsed fields). */
  get operations() {
    return this.#entries.map((entry) => entry.op);
  }

  /** Verifies one more operation and returns the new state. */
  append(bytes, signature) {
    requireBytes(bytes, "operation");
    requireBytes(signature, "signature");
    const op = parseOperation(bytes);
    this.#verifySignature(op, bytes, signature);
    this.#checkPosition(op, bytes, signature);
    const head = operationHash(bytes);
    const state = apply(this.#state, op, head, this.#maxMembers);
    this.#entries.push({ statement: bytes.slice(), signature: signature.slice(), op });
    this.#states.set(toHex(head), state);
    this.#state = state;
    return state;
  }

  #verifySignature(op, bytes, signature) {
    const keys = this.#keyLookup(op.actorId, op.actorGeneration);
    if (!keys) throw new UnknownKeyError("no accepted key for the operation's actor");
    if ((keys.userId !== undefined && big(keys.userId) !== op.actorId)
      || (keys.generation !== undefined && big(keys.generation) !== op.actorGeneration)) {
      throw new UsageError("the key lookup returned another user's or generation's keys");
    }
    verifyStatement(keys.ed25519, bytes, signature);
  }

  /** Refuses repeats, forks (signed, so shown as such), gaps and broken links. */
  #checkPosition(op, bytes, signature) {
    const next = BigInt(this.#entries.length);
    if (next && !bytesEqual(op.conversationId, this.#entries[0].op.conversationId)) {
      throw refuse("chain_order", "an operation of another conversation");
    }
    if (op.index < next) {
      const earlier = this.#entries[Number(op.index)];
      if (bytesEqual(earlier.statement, bytes)) {
        throw refuse("chain_order", "a repeated (replayed) membership operation");
      }
      throw new ForkDetected(op.index, { statement: earlier.statement,
        signature: earlier.signature }, { statement: bytes.slice(), signature: signature.slice() });
    }
    if (op.index > next) throw refuse("chain_order", "a gap in the membership chain");
    const expected = next ? operationHash(this.#entries.at(-1).statement) : ZERO_HASH;
    if (!bytesEqual(op.prevHash, expected)) {
      throw refuse("chain_link", "the previous hash is not the chain head");
    }
  }

  /**
   * {recipientHash, ed25519Hash, generation, vouchedBy} a current member was added with
   * ("vouched for by <adder>"), or null if not a member.
   */
  vouched(userId) {
    return this.state.members.get(big(userId)) ?? null;
  }

  /** One timeline line per operation, in order. */
  lines(name) {
    return this.#entries.map((entry) => describe(entry.op, name));
  }
}
