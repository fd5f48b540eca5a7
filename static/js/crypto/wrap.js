// The password-wrapped identity (docs/protocol.md §5, client/identity.py): an age file
// with exactly one scrypt stanza of work factor exactly 10 whose passphrase is
// base64url(wrap_key). The file comes from the server, so its header is checked before
// any scrypt work: a lying server could otherwise make the client run scrypt at 2^30
// (or try another stanza type) just by editing one line. The recovery copy is the same
// identity file encrypted to the recovery recipient, opened with a recovery code.
import { Decrypter, Encrypter } from "age-encryption";

import { CryptoError } from "./errors.js";
import { recoveryIdentity } from "./recovery.js";

export const WRAP_WORK_FACTOR = 10;
export const MAX_WRAPPED_BYTES = 1024 * 1024;
const MAGIC = "age-encryption.org/v1";
const MAX_HEADER_BYTES = 16 * 1024; // a hybrid recovery stanza takes about 1.5 KiB
const RECOVERY_STANZAS = { x25519: "X25519", hybrid: "mlkem768x25519" };
const RECOVERY_LINE = "# securechat-recovery: ";
const latin1 = new TextDecoder("latin1");

/**
 * The file is not a wrapped identity of the required shape (bad_wrapped_identity), does
 * not open (unwrap_failed), or names another recovery recipient (key_mismatch).
 */
export class WrappedIdentityError extends CryptoError {
  constructor(code, message, options) {
    super(code, message, options);
    this.name = "WrappedIdentityError";
  }
}

/**
 * The stanzas of a binary age file's header, each as its argument list (type first).
 * Raises WrappedIdentityError(bad_wrapped_identity) for anything that is not bytes of at
 * most 1 MiB starting with a binary age v1 header (armor included). Reads no key.
 */
function headerStanzas(file) {
  if (!(file instanceof Uint8Array) || file.length > MAX_WRAPPED_BYTES) {
    throw refuse("a wrapped identity is bytes, at most 1 MiB");
  }
  const lines = latin1.decode(file.subarray(0, MAX_HEADER_BYTES)).split("\n");
  if (lines[0] !== MAGIC) throw refuse("not a binary age v1 file");
  const end = lines.findIndex((line) => line.startsWith("---"));
  if (end < 0) throw refuse("the age header does not end");
  return lines.slice(1, end).filter((line) => line.startsWith("-> "))
    .map((line) => line.slice(3).split(" "));
}

/**
 * Returns nothing when `file` (bytes) is a binary age file whose header holds exactly
 * one stanza, `scrypt <salt> 10` (canonical decimal); raises
 * WrappedIdentityError(bad_wrapped_identity) for anything else. No scrypt runs here.
 */
export function checkWrappedIdentity(file) {
  const stanzas = headerStanzas(file);
  if (stanzas.length !== 1) throw refuse("a wrapped identity has exactly one stanza");
  const [type, , workFactor, ...rest] = stanzas[0];
  if (type !== "scrypt" || workFactor === undefined || rest.length) {
    throw refuse("a wrapped identity has one scrypt stanza");
  }
  if (workFactor !== String(WRAP_WORK_FACTOR)) {
    throw refuse(`the wrapped identity's work factor must be exactly ${WRAP_WORK_FACTOR}`);
  }
}

/** The identity file text inside a wrapped identity; checks the header first. */
export async function unwrapIdentity(file, passphrase) {
  checkWrappedIdentity(file);
  const decrypter = new Decrypter();
  decrypter.addPassphrase(passphrase);
  return openWith(decrypter, file);
}

/**
 * The identity file text inside the recovery copy, opened with a recovery code. Refuses
 * (before any decryption) a header that is not exactly one stanza of the key type's
 * kind (bad_wrapped_identity); after opening, the file's recovery line must name the
 * code's own recipient (key_mismatch). Raises RecoveryCodeError for a malformed code.
 */
export async function unwrapRecoveryCopy(file, code, keyType) {
  const recovery = await recoveryIdentity(code, keyType);
  const types = headerStanzas(file).map((args) => args[0]);
  if (types.length !== 1 || types[0] !== RECOVERY_STANZAS[keyType]) {
    throw refuse("a recovery copy has one stanza of the recovery key type");
  }
  const decrypter = new Decrypter();
  decrypter.addIdentity(recovery.identity);
  const text = await openWith(decrypter, file);
  const named = text.split("\n").filter((line) => line.startsWith(RECOVERY_LINE));
  if (named.length !== 1 || named[0] !== RECOVERY_LINE + recovery.recipient) {
    throw new WrappedIdentityError("key_mismatch",
      "the recovery copy names another recovery recipient");
  }
  return text;
}

async function openWith(decrypter, file) {
  try {
    return await decrypter.decrypt(file, "text");
  } catch (error) {
    throw new WrappedIdentityError("unwrap_failed", "the wrapped identity did not open",
      { cause: error });
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
