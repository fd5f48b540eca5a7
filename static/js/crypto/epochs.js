// Epoch envelopes and the signed epoch statement (docs/protocol.md §16, client/epochs.py).
//   plaintext = {"conversation":hex(id),"epoch":n,"name":…,"secret":b64url_nopad(32),"v":2}
//               (keys in this order, no spaces, UTF-8, non-ASCII not escaped)
//   envelope  = age file of plaintext, one stanza per listed member, in list order
//   members   = per member, strictly increasing user id: u64 user_id || u64 generation ||
//               recipient_hash(32) || ed25519_hash(32)                       (80 bytes)
//   epoch     = statement("securechat/v2/epoch", conversation_id(16), u64 epoch,
//               prev_envelope_hash(32), chain_head(32), members(raw), u64 creator_id,
//               u64 creator_generation, envelope_hash(32));  signed by the creator
// An epoch is named by (conversation id, number, envelope hash); EpochRegistry raises
// EquivocationDetected for two hashes under one number. openEpoch checks, in §16's order,
// everything a member can check before it uses the secret. Ids and numbers are BigInt.
// Keys are {userId, generation, recipient, ed25519}; a key lookup is
// (userId, generation) → keys or null.
import { Encrypter } from "age-encryption";
import { sha256 } from "@noble/hashes/sha2.js";
import { base64urlnopad } from "@scure/base";

import { ageFileStanzas, withIdentities } from "./agefile.js";
import { base64url, bytesEqual, concat, fromHex, fromUtf8, parseJsonBigInts, randomBytes,
  readU64, requireBytes, toHex, u64be, utf8 } from "./bytes.js";
import { EpochError, EquivocationDetected, StatementError, UnknownKeyError, UsageError }
  from "./errors.js";
import { big, fingerprintsOf, sameFingerprints } from "./fingerprints.js";
import { signStatement, verifyStatement } from "./message.js";
import { parseStatement, readFields, recipientField, statement } from "./statement.js";

export const EPOCH_TAG = "securechat/v2/epoch";
export const EPOCH_SECRET_SIZE = 32;
const ENTRY_SIZE = 80;
const FIELDS = [
  ["conversationId", 16], ["epoch", "u64"], ["prevEnvelopeHash", 32], ["chainHead", 32],
  ["members", "raw"], ["creatorId", "u64"], ["creatorGeneration", "u64"], ["envelopeHash", 32],
];
const byId = (a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0);
const refuse = (message, code = "bad_epoch", options = undefined) =>
  new EpochError(code, message, options);

/** The documented envelope limit (DESIGN.md §5): members × 1,600 + 4,096 bytes. */
export function maxEnvelopeSize(members) {
  return members * 1600 + 4096;
}

/** A member entry {userId, generation, recipientHash, ed25519Hash} of one generation's keys. */
export function memberEntryOf(keys) {
  return { userId: big(keys.userId), generation: big(keys.generation), ...fingerprintsOf(keys) };
}

function sameEntry(a, b) {
  return a.userId === b.userId && a.generation === b.generation && sameFingerprints(a, b);
}

/** The members field: 80-byte entries, strictly increasing user ids, at least one. */
export function encodeMembers(entries) {
  const ids = entries.map((e) => big(e.userId));
  if (!ids.length || ids.some((id, i) => i && id <= ids[i - 1])) {
    throw new UsageError("members: at least one, sorted by user id, no repeats");
  }
  return concat(...entries.map((e) => concat(u64be(e.userId), u64be(e.generation),
    requireBytes(e.recipientHash, "recipient hash", 32),
    requireBytes(e.ed25519Hash, "ed25519 hash", 32))));
}

/** Inverse of encodeMembers; StatementError unless canonical. */
export function decodeMembers(raw) {
  if (!raw.length || raw.length % ENTRY_SIZE) {
    throw new StatementError("members: a non-empty sequence of 80-byte entries");
  }
  const out = [];
  for (let pos = 0; pos < raw.length; pos += ENTRY_SIZE) {
    const r = raw.subarray(pos, pos + ENTRY_SIZE);
    out.push({ userId: readU64(r.subarray(0, 8)), generation: readU64(r.subarray(8, 16)),
      recipientHash: r.slice(16, 48), ed25519Hash: r.slice(48, 80) });
    if (out.length > 1 && out.at(-2).userId >= out.at(-1).userId) {
      throw new StatementError("members: user ids not strictly increasing");
    }
  }
  return out;
}

/** The statement bytes of {conversationId, epoch, prevEnvelopeHash, chainHead, members, …}. */
export function epochStatement(e) {
  return statement(EPOCH_TAG, requireBytes(e.conversationId, "conversation id", 16),
    u64be(e.epoch), requireBytes(e.prevEnvelopeHash, "previous envelope hash", 32),
    requireBytes(e.chainHead, "chain head", 32), encodeMembers(e.members),
    u64be(e.creatorId), u64be(e.creatorGeneration),
    requireBytes(e.envelopeHash, "envelope hash", 32));
}

/** The statement's fields (members decoded); StatementError unless canonical. */
export function parseEpochStatement(bytes) {
  const values = readFields(FIELDS, parseStatement(bytes, EPOCH_TAG));
  return { ...values, members: decodeMembers(values.members) };
}

// --- plaintext ---------------------------------------------------------------------------

/** The canonical plaintext bytes (Python's json.dumps with sorted keys, ensure_ascii off). */
export function encodeEpochPlaintext(conversationId, epoch, secret, name) {
  requireBytes(secret, "an epoch secret", EPOCH_SECRET_SIZE);
  if (typeof name !== "string") throw new UsageError("a group name is a string");
  // JSON.stringify would write a lone surrogate as an escape; client/ refuses the name.
  if (!name.isWellFormed()) throw new UsageError("the group name holds a lone surrogate");
  const conversation = toHex(requireBytes(conversationId, "conversation id"));
  return utf8(`{"conversation":"${conversation}","epoch":${big(epoch)},`
    + `"name":${JSON.stringify(name)},"secret":"${base64url(secret)}","v":2}`);
}

/**
 * {conversationId, epoch, secret, name} of a plaintext; EpochError(bad_epoch) unless it is
 * exactly what encodeEpochPlaintext writes for those values (decision 16).
 */
export function parseEpochPlaintext(bytes) {
  let values;
  try {
    const doc = parseJsonBigInts(fromUtf8(bytes));
    values = { conversationId: fromHex(doc.conversation), epoch: doc.epoch,
      secret: base64urlnopad.decode(doc.secret), name: doc.name, v: doc.v };
  } catch (error) {
    throw refuse("the envelope plaintext does not read", "bad_epoch", { cause: error });
  }
  const typed = typeof values.epoch === "bigint" && values.epoch < 2n ** 64n
    && values.secret.length === EPOCH_SECRET_SIZE && typeof values.name === "string"
    && values.v === 2n && values.name.isWellFormed();
  if (!typed || !bytesEqual(encodeEpochPlaintext(values.conversationId, values.epoch,
    values.secret, values.name), bytes)) {
    throw refuse("the envelope plaintext is not canonical");
  }
  const { v, ...out } = values;
  return out;
}

// --- build -------------------------------------------------------------------------------

/** Refuses a mix of post-quantum and classic recipients, as agecrypt does. */
function checkRecipientKinds(members) {
  const kinds = new Set(members.map((k) => k.recipient.startsWith("age1pq1")));
  if (kinds.size !== 1) throw new UsageError("post-quantum and classic recipients cannot mix");
}

/**
 * {envelope, statement, signature, secret} of a new epoch. `members` are every member's
 * current keys (the creator's included); `seed` is the creator's 32-byte Ed25519 seed.
 * UsageError for an envelope over its size limit (a shorter group name).
 */
export async function buildEpoch(seed, creator, { conversationId, epoch, prevEnvelopeHash,
  chainHead, members, name }) {
  const keys = [...members].map((k) => ({ ...k, userId: big(k.userId) })).sort(byId);
  if (!keys.some((k) => sameEntry(memberEntryOf(k), memberEntryOf(creator)))) {
    throw new UsageError("the creator is one of the members");
  }
  keys.forEach((k) => recipientField(k.recipient)); // UsageError unless canonical
  checkRecipientKinds(keys);
  const secret = randomBytes(EPOCH_SECRET_SIZE);
  const encrypter = new Encrypter();
  for (const k of keys) encrypter.addRecipient(k.recipient);
  const envelope = await encrypter.encrypt(encodeEpochPlaintext(conversationId, epoch, secret,
    name));
  if (envelope.length > maxEnvelopeSize(keys.length)) {
    throw new UsageError("the envelope would exceed its size limit (a shorter group name)");
  }
  if (ageFileStanzas(envelope, (m) => new UsageError(m)).length !== keys.length) {
    throw new UsageError("the age library wrote another number of stanzas than members");
  }
  const bytes = epochStatement({ conversationId, epoch, prevEnvelopeHash, chainHead,
    members: keys.map(memberEntryOf), creatorId: creator.userId,
    creatorGeneration: creator.generation, envelopeHash: sha256(envelope) });
  return { envelope, statement: bytes, signature: signStatement(seed, bytes), secret };
}

// --- open and verify ---------------------------------------------------------------------

/** The statement, signed by its creator over this envelope, and the chain state it names. */
function checkSigned(envelope, bytes, signature, chain, keyLookup) {
  const parsed = parseEpochStatement(bytes);
  const creator = keyLookup(parsed.creatorId, parsed.creatorGeneration);
  if (!creator) throw new UnknownKeyError("no accepted key for the epoch's creator");
  verifyStatement(creator.ed25519, bytes, signature);
  if (!bytesEqual(sha256(envelope), parsed.envelopeHash)) {
    throw refuse("the envelope is not the one the creator signed");
  }
  const state = chain.stateAt(parsed.chainHead);
  if (state === null || !bytesEqual(state.conversationId, parsed.conversationId)) {
    throw refuse("the epoch signs a chain head this client has not verified");
  }
  if (!state.members.has(parsed.creatorId)) {
    throw refuse("the epoch's creator is not a member at its chain head");
  }
  return { parsed, state };
}

/** The list names exactly the chain's members (less departed), with keys this client accepts. */
function checkMembers(parsed, state, keyLookup, departed) {
  const expected = [...state.members.keys()].filter((id) => !departed.has(id))
    .sort((a, b) => (a < b ? -1 : 1));
  const listed = parsed.members.map((e) => e.userId);
  if (listed.length !== expected.length || listed.some((id, i) => id !== expected[i])) {
    throw refuse("the member list differs from the membership chain");
  }
  for (const entry of parsed.members) {
    const vouched = state.members.get(entry.userId);
    if (entry.generation < vouched.generation) {
      throw refuse("a member listed with a key older than the chain's");
    }
    if (entry.generation === vouched.generation && !sameFingerprints(entry, vouched)) {
      throw refuse("a member's key differs from the one the chain vouches for", "pin_mismatch");
    }
    const keys = keyLookup(entry.userId, entry.generation);
    if (!keys && entry.generation !== vouched.generation) {
      throw new UnknownKeyError("a member listed with a key this client has not accepted");
    }
    if (keys && !sameEntry(memberEntryOf(keys), entry)) {
      throw refuse("a member's key differs from the pinned one", "pin_mismatch");
    }
  }
}

/** The epoch follows `previous` (the one this client holds before it), if any. */
function checkFollows(parsed, previous) {
  if (previous && (!bytesEqual(parsed.prevEnvelopeHash, previous.envelopeHash)
    || parsed.epoch <= big(previous.epoch)
    || !bytesEqual(parsed.conversationId, previous.conversationId))) {
    throw refuse("the epoch does not follow the previous one");
  }
}

async function decryptEnvelope(envelope, identity) {
  const decrypter = withIdentities([identity]);
  try {
    return await decrypter.decrypt(envelope);
  } catch (error) {
    throw refuse("this member's stanza does not open", "cannot_open", { cause: error });
  }
}

/**
 * {statement (parsed), secret, name} of an epoch, verified as member `me` (its own
 * current keys; `identity` its age identity string). In order: the creator's accepted key
 * (unknown_key) and signature (bad_signature); the envelope hash, a chain head `chain`
 * verified with the creator a member there, the size limit, that it follows `previous`,
 * a creator not in `departed` (bad_epoch); `me`'s own entry (not_my_key); the list
 * against the chain less `departed` and the accepted keys (bad_epoch, pin_mismatch,
 * unknown_key); one stanza per member (bad_epoch); decryption (cannot_open); the
 * plaintext canonical and naming the signed conversation and number (bad_epoch).
 */
export async function openEpoch(envelope, bytes, signature, { me, identity, chain, keyLookup,
  previous = null, departed = [] }) {
  requireBytes(envelope, "envelope");
  const { parsed, state } = checkSigned(envelope, bytes, signature, chain, keyLookup);
  if (envelope.length > maxEnvelopeSize(parsed.members.length)) {
    throw refuse("the envelope exceeds its size limit");
  }
  checkFollows(parsed, previous);
  const gone = new Set([...departed].map(big));
  if (gone.has(parsed.creatorId)) throw refuse("the epoch's creator has left the conversation");
  const own = parsed.members.find((e) => e.userId === big(me.userId));
  if (!own || !sameEntry(own, memberEntryOf(me))) {
    throw refuse("the epoch does not encrypt to this member's current keys", "not_my_key");
  }
  checkMembers(parsed, state, keyLookup, gone);
  if (ageFileStanzas(envelope, refuse).length !== parsed.members.length) {
    throw refuse("the envelope's stanza count differs from its member count");
  }
  const plain = parseEpochPlaintext(await decryptEnvelope(envelope, identity));
  if (!bytesEqual(plain.conversationId, parsed.conversationId) || plain.epoch !== parsed.epoch) {
    throw refuse("the envelope plaintext differs from the signed fields");
  }
  return { statement: parsed, secret: plain.secret, name: plain.name };
}

// --- due, and equivocation ---------------------------------------------------------------

/**
 * Why a new epoch is due, from verified state only, or null: "no-epoch", "chain-head"
 * (membership changed), "members" (an announced removal in `departed`) or
 * "key-generation" (`generations`, a Map of user id → accepted generation, differs).
 */
export function epochDue(current, state, generations = new Map(), departed = []) {
  if (!current) return "no-epoch";
  if (!bytesEqual(current.chainHead, state.head)) return "chain-head";
  const gone = new Set([...departed].map(big));
  const expected = [...state.members.keys()].filter((id) => !gone.has(id))
    .sort((a, b) => (a < b ? -1 : 1));
  const listed = current.members.map((e) => big(e.userId));
  if (listed.length !== expected.length || listed.some((id, i) => id !== expected[i])) {
    return "members";
  }
  const now = new Map([...generations].map(([id, g]) => [big(id), big(g)]));
  const changed = current.members.some((e) =>
    (now.get(big(e.userId)) ?? state.members.get(big(e.userId)).generation) !== big(e.generation));
  return changed ? "key-generation" : null;
}

/** Epochs this client has seen: (conversation id, number) → envelope hash. */
export class EpochRegistry {
  #seen = new Map();
  #blocked = new Set();

  static #key(conversationId, epoch) {
    return `${toHex(requireBytes(conversationId, "conversation id", 16))}:${big(epoch)}`;
  }

  /**
   * Remembers an epoch; EquivocationDetected (and sending blocked in that conversation)
   * if another envelope hash already holds that number.
   */
  record(conversationId, epoch, envelopeHash) {
    requireBytes(envelopeHash, "envelope hash", 32);
    const key = EpochRegistry.#key(conversationId, epoch);
    const first = this.#seen.get(key);
    if (first === undefined) {
      this.#seen.set(key, { conversationId: conversationId.slice(), epoch: big(epoch),
        hash: envelopeHash.slice() });
      return;
    }
    if (!bytesEqual(first.hash, envelopeHash)) {
      this.#blocked.add(toHex(conversationId));
      throw new EquivocationDetected(conversationId.slice(), big(epoch), first.hash.slice(),
        envelopeHash.slice());
    }
  }

  /** The envelope hash recorded for (conversation, number), or null. */
  hashOf(conversationId, epoch) {
    return this.#seen.get(EpochRegistry.#key(conversationId, epoch))?.hash.slice() ?? null;
  }

  /** {epoch, envelopeHash} of the highest epoch seen in the conversation, or null. */
  latest(conversationId) {
    const conv = toHex(requireBytes(conversationId, "conversation id", 16));
    let best = null;
    for (const entry of this.#seen.values()) {
      if (toHex(entry.conversationId) === conv && (!best || entry.epoch > best.epoch)) {
        best = entry;
      }
    }
    return best && { epoch: best.epoch, envelopeHash: best.hash.slice() };
  }

  /** True once an equivocation was seen in the conversation. */
  sendingBlocked(conversationId) {
    return this.#blocked.has(toHex(requireBytes(conversationId, "conversation id", 16)));
  }
}
