// The message statement (tag securechat/v2/message), signed with the sender's Ed25519
// key: what recipients verify, deduplicate and chain (DESIGN.md §3).
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";

import { requireBytes, u64be } from "./bytes.js";
import { SignatureError } from "./errors.js";
import { boxDigest, contextFields } from "./messagebox.js";
import { ascii, statement } from "./statement.js";

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
