// Recovery code (SPEC-v2-crypto.md): 26 Crockford base32 characters (130 bits), the
// seed of a recovery age identity made on the client.
import { bech32 } from "@scure/base";
import { identityToRecipient } from "age-encryption";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";

import { randomBytes, utf8 } from "./bytes.js";
import { RecoveryCodeError, UsageError } from "./errors.js";
import { TRIM_CHARS } from "./normalise.js";

export const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const CODE_LENGTH = 26;
const GROUP = 5;
const SEED_SALT = utf8("securechat/v2/recovery");
const PREFIXES = { hybrid: "AGE-SECRET-KEY-PQ-", x25519: "AGE-SECRET-KEY-" };
const SEPARATORS = new RegExp(`[${TRIM_CHARS}-]`, "g");
const ALIASES = { O: "0", I: "1", L: "1" };

/**
 * A fresh code (26 characters, no dashes), as protocol.md §6 and client/ make it: 17
 * random bytes, the top 130 bits (big-endian), 5 bits per character from the top.
 */
export function generateRecoveryCode() {
  let value = 0n;
  for (const byte of randomBytes(17)) value = (value << 8n) | BigInt(byte);
  value >>= 6n; // 136 - 130 bits
  const chars = [];
  for (let i = CODE_LENGTH - 1; i >= 0; i--) {
    chars.push(ALPHABET[Number((value >> BigInt(5 * i)) & 31n)]);
  }
  return chars.join("");
}

/** The display form: groups of 5 joined by "-" (the last group has 1 character). */
export function formatRecoveryCode(code) {
  const normalised = parseRecoveryCode(code);
  const groups = [];
  for (let i = 0; i < normalised.length; i += GROUP) groups.push(normalised.slice(i, i + GROUP));
  return groups.join("-");
}

/**
 * The 26 normalised characters of a code as typed (protocol.md §6): every "-" and every
 * §2 trim-set character removed, anything non-ASCII refused *before* uppercasing (so a
 * dotless ı, ß or a full-width digit is refused, not read as I, SS or 0), ASCII
 * uppercase, O→0, I→1, L→1. Raises RecoveryCodeError (never echoing the input) otherwise.
 */
export function parseRecoveryCode(typed) {
  if (typeof typed !== "string") throw new RecoveryCodeError("a recovery code is text");
  const kept = typed.replace(SEPARATORS, "");
  if (!/^\p{ASCII}*$/u.test(kept)) {
    throw new RecoveryCodeError("a recovery code has 26 letters and digits");
  }
  const compact = kept.replace(/[a-z]/g, (c) => c.toUpperCase())
    .replace(/[OIL]/g, (c) => ALIASES[c]);
  if (compact.length !== CODE_LENGTH || [...compact].some((c) => !ALPHABET.includes(c))) {
    throw new RecoveryCodeError("a recovery code has 26 letters and digits");
  }
  return compact;
}

/** seed = HKDF-SHA256(ikm=ascii(code), salt="securechat/v2/recovery", info=key_type, 32). */
export function recoverySeed(code, keyType) {
  requireKeyType(keyType);
  return hkdf(sha256, utf8(parseRecoveryCode(code)), SEED_SALT, utf8(keyType), 32);
}

/**
 * The age identity string of a 32-byte seed: bech32, uppercase. typage has no hybrid
 * identity from a seed, so the string is encoded here exactly as agecrypt does.
 */
export function identityFromSeed(seed, keyType) {
  requireKeyType(keyType);
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new UsageError("an identity seed is 32 bytes");
  }
  return bech32.encode(PREFIXES[keyType], bech32.toWords(seed), false).toUpperCase();
}

/** {normalised, seed, identity, recipient} of a recovery code. */
export async function recoveryIdentity(code, keyType) {
  const normalised = parseRecoveryCode(code);
  const seed = recoverySeed(normalised, keyType);
  const identity = identityFromSeed(seed, keyType);
  const recipient = await identityToRecipient(identity);
  return { normalised, seed, identity, recipient };
}

function requireKeyType(keyType) {
  if (!Object.hasOwn(PREFIXES, keyType)) {
    throw new UsageError(`key type must be "hybrid" or "x25519", not ${keyType}`);
  }
}
