// The password-wrapped identity (DESIGN.md §3, SPEC-v2-crypto.md): an age file with
// exactly one scrypt stanza of work factor exactly 10 whose passphrase is
// base64url(wrap_key). The file comes from the server, so its header is checked before
// any scrypt work: a lying server could otherwise make the client run scrypt at 2^30
// (or try another stanza type) just by editing one line.
import { Decrypter, Encrypter } from "age-encryption";

import { CryptoError, WorkFactorError } from "./errors.js";

export const WRAP_WORK_FACTOR = 10;
const MAGIC = "age-encryption.org/v1";
const MAX_HEADER_BYTES = 1024; // one scrypt stanza takes about 120 bytes
const latin1 = new TextDecoder("latin1");

/** The file is not a wrapped identity, or it does not open with this passphrase. */
export class WrappedIdentityError extends CryptoError {
  constructor(code, message, options) {
    super(code, message, options);
    this.name = "WrappedIdentityError";
  }
}

/**
 * Returns nothing when `file` (bytes) is a binary age file whose header holds exactly
 * one stanza, `scrypt <salt> 10`; raises WorkFactorError for another work factor and
 * WrappedIdentityError(bad_wrapped_identity) for anything else. No scrypt runs here.
 */
export function checkWrappedIdentity(file) {
  if (!(file instanceof Uint8Array)) throw refuse("a wrapped identity is bytes");
  const lines = latin1.decode(file.subarray(0, MAX_HEADER_BYTES)).split("\n");
  if (lines[0] !== MAGIC) throw refuse("not a binary age v1 file");
  const end = lines.findIndex((line) => line.startsWith("---"));
  if (end < 0) throw refuse("the age header does not end within 1 KiB");
  const stanzas = lines.slice(1, end).filter((line) => line.startsWith("-> "));
  if (stanzas.length !== 1) throw refuse(`${stanzas.length} stanzas, not exactly one`);
  const args = stanzas[0].slice(3).split(" ");
  if (args[0] !== "scrypt" || args.length !== 3) throw refuse("the stanza is not scrypt");
  if (args[2] !== String(WRAP_WORK_FACTOR)) {
    throw new WorkFactorError(
      `the wrapped identity's work factor is ${args[2]}, not ${WRAP_WORK_FACTOR}`);
  }
}

/** The identity file text inside a wrapped identity; checks the header first. */
export async function unwrapIdentity(file, passphrase) {
  checkWrappedIdentity(file);
  const decrypter = new Decrypter();
  decrypter.addPassphrase(passphrase);
  try {
    return await decrypter.decrypt(file, "text");
  } catch (error) {
    throw new WrappedIdentityError("unwrap_failed",
      "the wrapped identity does not open with this password", { cause: error });
  }
}

/** Wraps identity file text under `passphrase` (scrypt, work factor exactly 10). */
export async function wrapIdentity(identityText, passphrase) {
  const encrypter = new Encrypter();
  encrypter.setPassphrase(passphrase);
  encrypter.setScryptWorkFactor(WRAP_WORK_FACTOR);
  return encrypter.encrypt(identityText);
}

function refuse(message) {
  return new WrappedIdentityError("bad_wrapped_identity", message);
}
