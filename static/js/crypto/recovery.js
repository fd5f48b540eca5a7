// Recovery code (SPEC-v2-crypto.md): 26 Crockford base32 characters (130 bits), the
// seed of a recovery age identity made on the client.
import { bech32 } from "@scure/base";
import { identityToRecipient } from "age-encryption";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";

import { randomBytes, utf8 } from "./bytes.js";
import { InvalidInputError, RecoveryCodeError } from "./errors.js";
import { PYTHON_SPACE } from "./normalise.js";

export const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const CODE_LENGTH = 26;
const GROUP = 5;
const SEED_SALT = utf8("securechat/v2/recovery");
const PREFIXES = { hybrid: "AGE-SECRET-KEY-PQ-", x25519: "AGE-SECRET-KEY-" };
const SEPARATORS = new RegExp(`[${PYTHON_SPACE}-]`, "g");

/** A fresh code (26 characters, no dashes). 256 is a multiple of 32: `& 31` is uniform. */
export function generateRecoveryCode() {
  return [...randomBytes(CODE_LENGTH)].map((byte) => ALPHABET[byte & 31]).join("");
}

/** The display form: groups of 5 joined by "-" (the last group has 1 character). */
export function formatRecoveryCode(code) {
  const normalised = parseRecoveryCode(code);
  const groups = [];
  for (let i = 0; i < normalised.length; i += GROUP) groups.push(normalised.slice(i, i + GROUP));
  return groups.join("-");
}

/**
 * The 26 normalised characters of a code as typed: whitespace and "-" removed,
 * uppercased, O→0, I→1, L→1. Raises RecoveryCodeError for anything else.
 */
export function parseRecoveryCode(typed) {
  if (typeof typed !== "string") throw new RecoveryCodeError("the recovery code must be text");
  // Whitespace as Python's str.split() sees it and the default full uppercase mapping,
  // as client/ reads the spec; the result must still be 26 characters of the alphabet.
  const compact = typed.replace(SEPARATORS, "").toUpperCase()
    .replace(/O/g, "0").replace(/[IL]/g, "1");
  if (compact.length !== CODE_LENGTH || [...compact].some((c) => !ALPHABET.includes(c))) {
    throw new RecoveryCodeError(
      `a recovery code is ${CODE_LENGTH} characters of ${ALPHABET}`);
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
    throw new InvalidInputError("an identity seed is 32 bytes");
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
    throw new InvalidInputError(`key type must be "hybrid" or "x25519", not ${keyType}`);
  }
}
