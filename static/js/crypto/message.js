// The message statement (tag securechat/v2/message), signed with the sender's Ed25519
// key: what recipients verify, deduplicate and chain (DESIGN.md §3).
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";

import { bytesEqual, requireBytes, u64be } from "./bytes.js";
import { SignatureError, StatementError } from "./errors.js";
import { boxDigest, contextFields, messageContext } from "./messagebox.js";
import { parseStatement, readFields, statement, token } from "./statement.js";

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
    token(message.kind),
    requireBytes(digest, "box digest", 32),
    requireBytes(message.prevHash ?? ZERO_HASH, "previous hash", 32),
    u64be(message.seenSeq ?? 0),
    requireBytes(message.seenHash ?? ZERO_HASH, "seen hash", 32),
    u64be(message.clientClockMs),
  );
}

// The statement's fields in order (client.messagebox.MESSAGE): [name, kind] with kind
// "u64", a fixed byte length or "token" (readFields in statement.js).
const STATEMENT_FIELDS = [
  ["conversationId", 16], ["epoch", "u64"], ["envelopeHash", 32], ["senderId", "u64"],
  ["senderGeneration", "u64"], ["deviceId", 16], ["deviceCounter", "u64"],
  ["clientMessageId", 16], ["kind", "token"], ["boxDigest", 32], ["prevHash", 32],
  ["seenSeq", "u64"], ["seenHash", 32], ["clientClockMs", "u64"],
];

/**
 * Reads a message statement back into its fields (u64 values as BigInt, kind as text).
 * Strict (§1): the tag, the field count, every fixed length and the kind's token form
 * are checked, so one statement has one reading; anything else raises StatementError.
 */
export function parseMessageStatement(statementBytes) {
  return readFields(STATEMENT_FIELDS, parseStatement(statementBytes, MESSAGE_TAG));
}

/**
 * What a receiver does with a statement (§10, client.messagebox.verify_statement): the
 * signature verifies under `publicKey` (else SignatureError), the bytes parse strictly,
 * the context equals the one the receiver built from its own state and the box digest
 * is that of the box it received (else StatementError). Returns the parsed statement.
 */
export function verifyMessageStatement(publicKey, statementBytes, signature, { context, box }) {
  verifyStatement(publicKey, statementBytes, signature);
  const parsed = parseMessageStatement(statementBytes);
  if (!bytesEqual(messageContext(parsed), messageContext(context))) {
    throw new StatementError("the message was signed for another context");
  }
  if (!bytesEqual(parsed.boxDigest, boxDigest(box))) {
    throw new StatementError("the signature covers another box");
  }
  return parsed;
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
 * SignatureError otherwise (a key or signature of the wrong size included). Strict
 * RFC 8032 verification (zip215 off), like the Python side's `cryptography`, so both
 * clients accept exactly the same signatures.
 */
export function verifyStatement(publicKey, statementBytes, signature) {
  // All three are untrusted input: a wrong size is a signature that does not verify.
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new SignatureError("an Ed25519 public key is 32 bytes");
  }
  if (!(signature instanceof Uint8Array) || signature.length !== 64) {
    throw new SignatureError("an Ed25519 signature is 64 bytes");
  }
  if (!(statementBytes instanceof Uint8Array)) throw new SignatureError("a statement is bytes");
  let valid;
  try {
    valid = ed25519.verify(signature, statementBytes, publicKey, { zip215: false });
  } catch (error) {
    throw new SignatureError("the signature is malformed", { cause: error });
  }
  if (!valid) throw new SignatureError("the signature does not verify");
}
