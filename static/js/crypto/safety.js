// Safety numbers (DESIGN.md §3, SPEC-v2-crypto.md): two users compare 12 groups of 5
// digits, or scan a QR code carrying both full fingerprints.
import { sha512 } from "@noble/hashes/sha2.js";

import { requireBytes, toHex, u64be } from "./bytes.js";
import { SafetyNumberError } from "./errors.js";
import { recipientField, statement } from "./statement.js";

const TAG = "securechat/v2/safety";

/**
 * F = SHA-512(statement(tag, u64 user id, Ed25519 key (32), age recipient)); the
 * recipient must be canonical (§1), else UsageError, as client.safety.fingerprint.
 */
export function safetyFingerprint({ userId, ed25519, recipient }) {
  requireBytes(ed25519, "Ed25519 public key", 32);
  return sha512(statement(TAG, u64be(userId), ed25519, recipientField(recipient)));
}

/** Six groups of 5 digits: each 5-byte slice of F[0:30], big-endian, mod 100000. */
export function safetyGroups(fingerprint) {
  requireBytes(fingerprint, "fingerprint", 64);
  const groups = [];
  for (let i = 0; i < 30; i += 5) {
    let value = 0n;
    for (const byte of fingerprint.subarray(i, i + 5)) value = (value << 8n) | BigInt(byte);
    groups.push(String(value % 100000n).padStart(5, "0"));
  }
  return groups;
}

/**
 * {fingerprintA, fingerprintB, safetyNumber, qr} of two users ({userId, ed25519,
 * recipient}); the lower user id comes first in the number and the QR payload.
 * Equal ids are refused (SafetyNumberError): a safety number is between two users.
 */
export function safetyNumber(a, b) {
  const idA = BigInt(a.userId);
  const idB = BigInt(b.userId);
  if (idA === idB) throw new SafetyNumberError("a safety number compares two different users");
  const fingerprintA = safetyFingerprint(a);
  const fingerprintB = safetyFingerprint(b);
  const [low, high] = idA < idB ? [fingerprintA, fingerprintB] : [fingerprintB, fingerprintA];
  return {
    fingerprintA,
    fingerprintB,
    safetyNumber: [...safetyGroups(low), ...safetyGroups(high)].join(" "),
    qr: `securechat-safety:2:${toHex(low)}:${toHex(high)}`,
  };
}

const QR_SHAPE = /^securechat-safety:2:[0-9a-f]{128}:[0-9a-f]{128}$/;

/**
 * True iff the scanned QR text is exactly the payload for users `a` and `b`; false for
 * a well-formed payload of other keys ("does not match"). A payload of any other shape
 * raises SafetyNumberError (§8, client.safety.verify_qr).
 */
export function verifySafetyQr(scanned, a, b) {
  if (typeof scanned !== "string" || !QR_SHAPE.test(scanned)) {
    throw new SafetyNumberError("not a SecureChat safety QR code");
  }
  return scanned === safetyNumber(a, b).qr;
}
