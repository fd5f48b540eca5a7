// The v2 identity file (docs/protocol.md §7, client/identity.py): every key generation's
// age identity newest first (each after its `# securechat-generation: N` line), the
// current Ed25519 signing seed in `# securechat-signing-key: N <base64>`, and the recovery
// recipient in `# securechat-recovery: …`. serializeIdentityFile() writes the bytes
// client/identity.py writes for the same keys; parseIdentityFile() is as strict as
// IdentityFile.parse. The file holds every secret of the account: it lives in memory,
// wrapped (wrap.js), or under the device key (v2/accounts/devicestore.js), never in clear.
import { ed25519 } from "@noble/curves/ed25519.js";
import { bech32 } from "@scure/base";
import { Encrypter, identityToRecipient } from "age-encryption";

import { randomBytes } from "./bytes.js";
import { CryptoError, UsageError } from "./errors.js";
import { identityFromSeed } from "./recovery.js";
import { isCanonicalRecipient } from "./statement.js";

const HEADER_LINES = [
  "# SecureChat identity file (v2): age identities, newest first, and a signing key.",
  "# Decrypt age files with: age -d -i this-file",
];
const SIGNING = "# securechat-signing-key: ";
const RECOVERY = "# securechat-recovery: ";
const GENERATION = "# securechat-generation: ";
const DIRECTIVE = "# securechat-";
const NUMBER = /^[1-9][0-9]{0,19}$/;
const KEY_TYPES = { "age-secret-key-pq-": "hybrid", "age-secret-key-": "x25519" };

/** The text is not a well-formed identity file (bad_identity_file, as client/'s). */
export class IdentityFileError extends CryptoError {
  constructor(message) {
    super("bad_identity_file", message);
    this.name = "IdentityFileError";
  }
}

/**
 * A new account's identity file contents, generation 1: a fresh age identity of
 * `keyType` ("hybrid" or "x25519") and Ed25519 seed, both from the randomness seam.
 * Returns {generations: [{number, identity}], signingSeed, signingGeneration,
 * recoveryRecipient}.
 */
export function createIdentityFile(keyType, recoveryRecipient) {
  if (!isCanonicalRecipient(recoveryRecipient)) {
    throw new UsageError("the recovery recipient is a canonical age recipient");
  }
  const identity = identityFromSeed(randomBytes(32), keyType);
  return { generations: [{ number: 1, identity }], signingSeed: randomBytes(32),
    signingGeneration: 1, recoveryRecipient };
}

/** The canonical text (LF line ends, final LF) of an identity file's contents. */
export function serializeIdentityFile(file) {
  const lines = [...HEADER_LINES,
    `${SIGNING}${file.signingGeneration} ${base64Standard(file.signingSeed)}`,
    `${RECOVERY}${file.recoveryRecipient}`];
  for (const { number, identity } of file.generations) {
    lines.push(`${GENERATION}${number}`, identity);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Parses identity file text strictly (protocol.md §7); IdentityFileError on anything
 * client/identity.py refuses. Generation numbers are Numbers (safe integers only).
 */
export function parseIdentityFile(text) {
  if (typeof text !== "string") throw new IdentityFileError("an identity file is text");
  if (!text.endsWith("\n") || text.includes("\r")) {
    throw new IdentityFileError("identity file lines end with LF only");
  }
  const state = { generations: [], signing: null, recovery: null, pending: null };
  for (const line of text.slice(0, -1).split("\n")) readLine(state, line);
  if (state.pending !== null || state.generations.length === 0 || state.signing === null
      || state.recovery === null) {
    throw new IdentityFileError("incomplete identity file");
  }
  const numbers = state.generations.map((g) => g.number);
  if (numbers.some((n, i) => i > 0 && numbers[i - 1] <= n)) {
    throw new IdentityFileError("generations must be strictly newest first");
  }
  if (state.signing.number !== numbers[0]) {
    throw new IdentityFileError("the signing key is not the newest generation's");
  }
  return { generations: state.generations, signingSeed: state.signing.seed,
    signingGeneration: numbers[0], recoveryRecipient: state.recovery };
}

function readLine(state, line) {
  if (state.pending !== null) {
    state.generations.push({ number: state.pending, identity: canonicalIdentity(line) });
    state.pending = null;
  } else if (line.startsWith(SIGNING) && state.signing === null) {
    const rest = line.slice(SIGNING.length);
    const space = rest.indexOf(" ");
    if (space < 0) throw new IdentityFileError("malformed signing key line");
    state.signing = { number: generationNumber(rest.slice(0, space)),
      seed: signingSeed(rest.slice(space + 1)) };
  } else if (line.startsWith(RECOVERY) && state.recovery === null) {
    const recipient = line.slice(RECOVERY.length);
    if (!isCanonicalRecipient(recipient)) {
      throw new IdentityFileError("malformed recovery recipient");
    }
    state.recovery = recipient;
  } else if (line.startsWith(GENERATION)) {
    state.pending = generationNumber(line.slice(GENERATION.length));
  } else if (line.startsWith(DIRECTIVE) || !line.startsWith("#")) {
    throw new IdentityFileError("unexpected or repeated line in identity file");
  }
}

function generationNumber(text) {
  if (!NUMBER.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new IdentityFileError("malformed generation number");
  }
  return Number(text);
}

function signingSeed(text) {
  let seed;
  try {
    seed = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    throw new IdentityFileError("malformed signing key line");
  }
  if (seed.length !== 32 || base64Standard(seed) !== text) {
    throw new IdentityFileError("malformed signing key line");
  }
  return seed;
}

/** The key type of a canonical (uppercase Bech32, 32-byte seed) age identity line. */
export function identityKeyType(line) {
  try {
    if (line !== line.toUpperCase()) throw new Error("not uppercase");
    const { prefix, words } = bech32.decode(line, false);
    const keyType = KEY_TYPES[prefix];
    const seed = bech32.fromWords(words);
    if (keyType && seed.length === 32 && identityFromSeed(seed, keyType) === line) return keyType;
  } catch {
    // refused below, without echoing the secret line
  }
  throw new IdentityFileError("malformed identity line");
}

function canonicalIdentity(line) {
  identityKeyType(line);
  return line;
}

function base64Standard(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The age recipient of the current (newest) generation. */
export function currentRecipient(file) {
  return identityToRecipient(file.generations[0].identity);
}

/** The 32-byte Ed25519 public key of the file's signing seed. */
export function identitySigningKey(file) {
  return ed25519.getPublicKey(file.signingSeed);
}

/** The identity file encrypted to its own recovery recipient (never one from a server). */
export async function wrapToRecovery(file) {
  const encrypter = new Encrypter();
  encrypter.addRecipient(file.recoveryRecipient);
  return encrypter.encrypt(serializeIdentityFile(file));
}
