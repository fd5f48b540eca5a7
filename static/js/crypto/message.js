// The message statement (tag securechat/v2/message), signed with the sender's Ed25519
// key: what recipients verify, deduplicate and chain (DESIGN.md §3).
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";

import { fromUtf8, readU64, requireBytes, u64be } from "./bytes.js";
import { InvalidInputError, SignatureError } from "./errors.js";
import { boxDigest, contextFields } from "./messagebox.js";
import { ascii, parseStatement, statement } from "./statement.js";

export const MESSAGE_TAG = "securechat/v2/message";
const ZERO_HASH = new Uint8Array(32);

/**
 * The statement bytes. `message` holds the context fields (see messageContext) and
 * clientMessageId (16), kind (ASCII), box (or boxDigest, 32), prevHash (32, or absent for
 * the device's first message), seenSeq, seenHash (32, or absent), clientClockMs.
 */
export function messageStatement(message) {
  const digest = message.boxDigest ?? boxDigest(message.box);
  return statement(
    MESSAGE_TAG,
    ...contextFields(message),
    requireBytes(message.clientMessageId, "client message id", 16),
    ascii(message.kind),
    requireBytes(digest, "box digest", 32),
    requireBytes(message.prevHash ?? ZERO_HASH, "previous hash", 32),
    u64be(message.seenSeq ?? 0),
    requireBytes(message.seenHash ?? ZERO_HASH, "seen hash", 32),
    u64be(message.clientClockMs),
  );
}

// The statement's fields in order: [name, fixed length (u64 = 8), or null for the kind].
const STATEMENT_FIELDS = [
  ["conversationId", 16], ["epoch", "u64"], ["envelopeHash", 32], ["senderId", "u64"],
  ["senderGeneration", "u64"], ["deviceId", 16], ["deviceCounter", "u64"],
  ["clientMessageId", 16], ["kind", null], ["boxDigest", 32], ["prevHash", 32],
  ["seenSeq", "u64"], ["seenHash", 32], ["clientClockMs", "u64"],
];

/**
 * Reads a message statement back into its fields (u64 values as BigInt, kind as text).
 * Strict: the tag, the field count, every fixed length and printable-ASCII kind are
 * checked, so one statement has one reading; anything else raises InvalidInputError.
 */
export function parseMessageStatement(statementBytes) {
  const fields = parseStatement(statementBytes, MESSAGE_TAG);
  if (fields.length !== STATEMENT_FIELDS.length) {
    throw new InvalidInputError(`a message statement has ${STATEMENT_FIELDS.length} fields`);
  }
  const out = {};
  STATEMENT_FIELDS.forEach(([name, size], i) => {
    if (size === "u64") out[name] = readU64(fields[i]);
    else if (size === null) out[name] = checkedKind(fromUtf8(fields[i]));
    else out[name] = requireBytes(fields[i].slice(), name, size);
  });
  return out;
}

function checkedKind(kind) {
  ascii(kind); // raises unless printable ASCII
  if (kind === "") throw new InvalidInputError("a message kind is not empty");
  return kind;
}

/** message_hash = SHA-256(statement): how later messages name this one. */
export function messageHash(statementBytes) {
  return sha256(requireBytes(statementBytes, "statement"));
}

/** The Ed25519 public key (32 bytes) of a 32-byte seed. */
export function signingPublicKey(seed) {
  return ed25519.getPublicKey(requireBytes(seed, "Ed25519 seed", 32));
}

/** Ed25519 signature (64 bytes, deterministic) of the statement under a 32-byte seed. */
export function signStatement(seed, statementBytes) {
  return ed25519.sign(requireBytes(statementBytes, "statement"),
    requireBytes(seed, "Ed25519 seed", 32));
}

/**
 * Returns nothing when `signature` is the sender's over `statementBytes`; raises
 * SignatureError otherwise. Strict RFC 8032 verification (zip215 off), like the Python
 * side's `cryptography`, so both clients accept exactly the same signatures.
 */
export function verifyStatement(publicKey, statementBytes, signature) {
  requireBytes(publicKey, "Ed25519 public key", 32);
  requireBytes(signature, "signature", 64);
  let valid;
  try {
    valid = ed25519.verify(signature, statementBytes, publicKey, { zip215: false });
  } catch (error) {
    throw new SignatureError("the signature is malformed", { cause: error });
  }
  if (!valid) throw new SignatureError("the signature does not verify");
}
