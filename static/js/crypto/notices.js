// Cannot-open notices and the pin blob (docs/protocol.md §17, client/notices.py).
//   cannot_open = statement("securechat/v2/cannot-open", conversation_id(16), u64 epoch,
//                           envelope_hash(32), u64 creator_id, u64 reporter_id,
//                           u64 reporter_generation, u64 client_clock_ms)  — by the reporter
//   pins    = statement("securechat/v2/pins", u64 owner_id, u64 owner_generation,
//                       u64 version, content(raw))
//   content = {"contacts":[{"ed25519":hex,"generation":n,"recipient":hex,"user_id":n,
//              "verified":bool}, … sorted by user_id],"v":2}   (no spaces, ASCII)
//   blob    = age file to the owner's current recipient of field(pins) || field(signature)
// Contacts are a Map of BigInt user id → {generation (BigInt), recipientHash, ed25519Hash,
// verified}; ids and numbers are BigInt after parsing (u64 may exceed 2^53).
// A key lookup is (userId: BigInt, generation: BigInt) → {recipient, ed25519} or null.
import { Encrypter } from "age-encryption";
import { sha256 } from "@noble/hashes/sha2.js";

import { withIdentities } from "./agefile.js";
import { bytesEqual, concat, fromHex, parseJsonBigInts, requireBytes, toHex, u64be }
  from "./bytes.js";
import { PinBlobError, UnknownKeyError, UsageError } from "./errors.js";
import { big, sameFingerprints } from "./fingerprints.js";
import { signStatement, verifyStatement } from "./message.js";
import { field, parseStatement, readFields, recipientField, statement } from "./statement.js";

export const CANNOT_OPEN_TAG = "securechat/v2/cannot-open";
export const PINS_TAG = "securechat/v2/pins";
const CANNOT_OPEN_FIELDS = [
  ["conversationId", 16], ["epoch", "u64"], ["envelopeHash", 32], ["creatorId", "u64"],
  ["reporterId", "u64"], ["reporterGeneration", "u64"], ["clientClockMs", "u64"],
];
const PINS_FIELDS = [
  ["ownerId", "u64"], ["ownerGeneration", "u64"], ["version", "u64"], ["content", "raw"],
];

// --- cannot-open ---------------------------------------------------------------------

/** The statement bytes of a notice {conversationId, epoch, envelopeHash, creatorId, …}. */
export function cannotOpenStatement(notice) {
  return statement(CANNOT_OPEN_TAG,
    requireBytes(notice.conversationId, "conversation id", 16), u64be(notice.epoch),
    requireBytes(notice.envelopeHash, "envelope hash", 32), u64be(notice.creatorId),
    u64be(notice.reporterId), u64be(notice.reporterGeneration), u64be(notice.clientClockMs));
}

/** The notice's fields (u64 as BigInt); StatementError unless canonical. */
export function parseCannotOpen(bytes) {
  return readFields(CANNOT_OPEN_FIELDS, parseStatement(bytes, CANNOT_OPEN_TAG));
}

/** {statement, signature} by the reporter's 32-byte seed; a clock of 0 is taken as now. */
export function signCannotOpen(seed, notice) {
  const clientClockMs = big(notice.clientClockMs ?? 0) === 0n ? Date.now() : notice.clientClockMs;
  const bytes = cannotOpenStatement({ ...notice, clientClockMs });
  return { statement: bytes, signature: signStatement(seed, bytes) };
}

/**
 * The notice, if signed by the reporter's accepted key (UnknownKeyError when the lookup
 * has none, SignatureError, StatementError). Shown against its creatorId.
 */
export function verifyCannotOpen(bytes, signature, keyLookup) {
  const notice = parseCannotOpen(bytes);
  const keys = keyLookup(notice.reporterId, notice.reporterGeneration);
  if (!keys) throw new UnknownKeyError("no accepted key for the notice's reporter");
  verifyStatement(keys.ed25519, bytes, signature);
  return notice;
}

// --- pin content -----------------------------------------------------------------------

/** The canonical content bytes of `contacts` (Map user id → pin), sorted by user id. */
export function encodePinContent(contacts) {
  if (!(contacts instanceof Map)) throw new UsageError("contacts are a Map");
  const entries = [...contacts].map(([id, pin]) => [big(id), pin])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (new Set(entries.map(([id]) => id)).size !== entries.length) {
    throw new UsageError("one pin per user id");
  }
  const rows = entries.map(([id, pin]) => {
    if (typeof pin.verified !== "boolean") throw new UsageError("verified is a bool");
    return `{"ed25519":"${toHex(requireBytes(pin.ed25519Hash, "ed25519 hash", 32))}",`
      + `"generation":${big(pin.generation)},`
      + `"recipient":"${toHex(requireBytes(pin.recipientHash, "recipient hash", 32))}",`
      + `"user_id":${id},"verified":${pin.verified}}`;
  });
  return new TextEncoder().encode(`{"contacts":[${rows.join(",")}],"v":2}`);
}

/** Inverse of encodePinContent; PinBlobError(bad_pin_blob) unless exactly canonical. */
export function parsePinContent(bytes) {
  requireBytes(bytes, "pin content");
  let doc;
  let contacts;
  try {
    if (bytes.some((b) => b > 0x7f)) throw new UsageError("the pin content is not ASCII");
    doc = parseJsonBigInts(new TextDecoder().decode(bytes));
    contacts = new Map(doc.contacts.map((row) => [row.user_id, {
      generation: row.generation, recipientHash: fromHex(row.recipient),
      ed25519Hash: fromHex(row.ed25519), verified: row.verified,
    }]));
  } catch (error) {
    throw new PinBlobError("bad_pin_blob", "the pin content does not read", { cause: error });
  }
  const u64 = (n) => typeof n === "bigint" && n < 2n ** 64n;
  const wellTyped = [...contacts].every(([id, pin]) => u64(id) && u64(pin.generation)
    && typeof pin.verified === "boolean" && pin.recipientHash.length === 32
    && pin.ed25519Hash.length === 32);
  if (doc.v !== 2n || !wellTyped || !bytesEqual(encodePinContent(contacts), bytes)) {
    throw new PinBlobError("bad_pin_blob", "the pin content is not canonical");
  }
  return contacts;
}

// --- pin blob --------------------------------------------------------------------------

/** The pins statement bytes of {ownerId, ownerGeneration, version, contacts}. */
export function pinsStatement({ ownerId, ownerGeneration, version, contacts }) {
  return statement(PINS_TAG, u64be(ownerId), u64be(ownerGeneration), u64be(version),
    encodePinContent(contacts));
}

/**
 * The blob for `pins` ({ownerId, version, contacts}): signed with `seed` (the owner's
 * generation `owner.generation`), age-encrypted to `owner.recipient`.
 */
export async function sealPinBlob(seed, owner, pins) {
  if (big(pins.ownerId) !== big(owner.userId)) {
    throw new UsageError("a pin blob belongs to its owner");
  }
  const bytes = pinsStatement({ ...pins, ownerGeneration: owner.generation });
  const encrypter = new Encrypter();
  recipientField(owner.recipient); // UsageError unless a canonical age recipient
  encrypter.addRecipient(owner.recipient);
  return encrypter.encrypt(concat(field(bytes), field(signStatement(seed, bytes))));
}

async function decryptBlob(blob, identities) {
  requireBytes(blob, "pin blob");
  const decrypter = withIdentities(identities);
  try {
    return await decrypter.decrypt(blob);
  } catch (error) {
    throw new PinBlobError("bad_pin_blob", "the pin blob does not open", { cause: error });
  }
}

/**
 * Decrypts (with the owner's identity strings), verifies and parses the owner's pin
 * blob: {ownerId, version, contacts, statementHash}. bad_pin_blob if it does not open or
 * is malformed, UnknownKeyError / SignatureError for the signature, pin_rollback if the
 * version is below `lastSeenVersion`, or equal to it under another `lastSeenHash`.
 */
export async function openPinBlob(blob, identities, { ownerId, keyLookup,
  lastSeenVersion = 0, lastSeenHash = null }) {
  const plaintext = await decryptBlob(blob, identities);
  let parts;
  try {
    parts = parseStatement(plaintext);
  } catch (error) {
    throw new PinBlobError("bad_pin_blob", "the pin blob is not two fields", { cause: error });
  }
  if (parts.length !== 2) throw new PinBlobError("bad_pin_blob", "a statement and a signature");
  const [bytes, signature] = parts;
  const values = readFields(PINS_FIELDS, parseStatement(bytes, PINS_TAG));
  if (values.ownerId !== big(ownerId)) {
    throw new PinBlobError("bad_pin_blob", "the pin blob belongs to another user");
  }
  const keys = keyLookup(values.ownerId, values.ownerGeneration);
  if (!keys) throw new UnknownKeyError("the pin blob is signed by an unknown generation");
  verifyStatement(keys.ed25519, bytes, signature);
  const statementHash = sha256(bytes);
  if (values.version < big(lastSeenVersion) || (values.version === big(lastSeenVersion)
    && lastSeenHash !== null && !bytesEqual(lastSeenHash, statementHash))) {
    throw new PinBlobError("pin_rollback", "the pin blob is older than one this client saw");
  }
  return { ownerId: values.ownerId, version: values.version,
    contacts: parsePinContent(values.content), statementHash };
}

// --- merge -----------------------------------------------------------------------------

function mergePin(local, remote) {
  if (big(local.generation) !== big(remote.generation)) {
    return [big(local.generation) > big(remote.generation) ? local : remote, false];
  }
  if (!sameFingerprints(local, remote)) return [{ ...remote, verified: false }, true];
  return [{ ...remote, verified: local.verified || remote.verified }, false];
}

/**
 * Merge after a lost compare-and-swap (decision 19): {merged, conflicts}. Union of
 * contacts; a newer generation wins; for the same keys a verified mark on either side
 * survives; two keys for one generation keep the stored (`remote`) one unverified and
 * are listed in `conflicts` (sorted BigInt ids). The version is one above both.
 */
export function mergePins(local, remote) {
  if (big(local.ownerId) !== big(remote.ownerId)) {
    throw new UsageError("only one owner's pin sets merge");
  }
  const contacts = new Map([...remote.contacts].map(([id, pin]) => [big(id), pin]));
  const conflicts = [];
  for (const [rawId, pin] of local.contacts) {
    const id = big(rawId);
    if (!contacts.has(id)) {
      contacts.set(id, pin);
      continue;
    }
    const [merged, conflict] = mergePin(pin, contacts.get(id));
    contacts.set(id, merged);
    if (conflict) conflicts.push(id);
  }
  const version = (big(local.version) > big(remote.version) ? big(local.version)
    : big(remote.version)) + 1n;
  conflicts.sort((a, b) => (a < b ? -1 : 1));
  return { merged: { ownerId: big(remote.ownerId), version, contacts }, conflicts };
}
