// Key fingerprints (client/fingerprints.py): how membership operations, epochs and pin
// blobs name one key generation of a user.
//   recipient_hash = SHA-256(ascii(age_recipient));  ed25519_hash = SHA-256(ed25519_pub(32))
// A key generation's public keys are {userId, generation, recipient, ed25519}, as
// endorsements carry them; "no key" is 32 zero bytes each.
import { sha256 } from "@noble/hashes/sha2.js";

import { bytesEqual, requireBytes } from "./bytes.js";
import { UsageError } from "./errors.js";
import { recipientField } from "./statement.js";

export const ZERO_HASH = new Uint8Array(32);

/** {recipientHash, ed25519Hash} of one key generation's public keys. */
export function fingerprintsOf({ recipient, ed25519 }) {
  return {
    recipientHash: sha256(recipientField(recipient)),
    ed25519Hash: sha256(requireBytes(ed25519, "Ed25519 public key", 32)),
  };
}

/** True when two fingerprint pairs are equal. */
export function sameFingerprints(a, b) {
  return bytesEqual(a.recipientHash, b.recipientHash) && bytesEqual(a.ed25519Hash, b.ed25519Hash);
}

/** True for the all-zero fingerprints of "no key". */
export function isNoKey(prints) {
  return sameFingerprints(prints, { recipientHash: ZERO_HASH, ed25519Hash: ZERO_HASH });
}

/** A u64 value (a safe integer or a BigInt) as a BigInt; UsageError otherwise. */
export function big(value) {
  if (typeof value === "bigint" && value >= 0n && value < 2n ** 64n) return value;
  if (Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new UsageError("expected a u64 (a non-negative safe integer or BigInt)");
}
