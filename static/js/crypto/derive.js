// Password derivation (DESIGN.md §3, SPEC-v2-crypto.md): the server never sees the
// password, `master` or `wrap_key`; it receives `auth_key` only.
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { scryptAsync } from "@noble/hashes/scrypt.js";
import { sha256 } from "@noble/hashes/sha2.js";

import { base64url, concat, requireBytes, u16be, utf8 } from "./bytes.js";
import { SaltError, UsageError, WorkFactorError } from "./errors.js";
import { normaliseEmail } from "./normalise.js";

// The floor is compiled in (esbuild `define`): 16 in every served bundle; only the test
// build (tools/bundle.mjs --test) lowers it, so a server cannot talk a client down.
export const WORK_FACTOR_FLOOR = __SECURECHAT_WORK_FACTOR_FLOOR__;
// typage refuses scrypt above 2^20, and so does every client.
export const WORK_FACTOR_CEILING = 20;

const SALT_TAG = utf8("securechat/v2/scrypt-salt");
const AUTH_INFO = utf8("securechat/v2/auth");
const WRAP_INFO = utf8("securechat/v2/wrap");

/** Raises WorkFactorError unless `wf` is an integer in [WORK_FACTOR_FLOOR, 20]. */
export function checkWorkFactor(wf) {
  if (!Number.isInteger(wf) || wf < WORK_FACTOR_FLOOR || wf > WORK_FACTOR_CEILING) {
    throw new WorkFactorError(
      `work factor ${wf} is outside [${WORK_FACTOR_FLOOR}, ${WORK_FACTOR_CEILING}]`);
  }
  return wf;
}

/** account_salt = HMAC-SHA256(PRELOGIN_KEY, utf8(normalise(email)))[:16] (the server's side). */
export function accountSalt(preloginKey, email) {
  requireBytes(preloginKey, "prelogin key");
  return hmac(sha256, preloginKey, utf8(normaliseEmail(email))).slice(0, 16);
}

/** salt = SHA-256("securechat/v2/scrypt-salt" || u16be(len(email)) || email || account_salt). */
export function scryptSalt(email, accountSaltBytes) {
  if (!(accountSaltBytes instanceof Uint8Array) || accountSaltBytes.length !== 16) {
    throw new SaltError("an account salt is exactly 16 bytes");
  }
  const emailBytes = utf8(normaliseEmail(email));
  if (emailBytes.length > 0xffff) throw new UsageError("the address is too long");
  return sha256(concat(SALT_TAG, u16be(emailBytes.length), emailBytes, accountSaltBytes));
}

/** utf8(NFKC(password)): no trim, no case fold; an empty password is UsageError (§4). */
export function passwordBytes(password) {
  if (typeof password !== "string" || password === "") {
    throw new UsageError("a password is a non-empty string");
  }
  return utf8(password.normalize("NFKC"));
}

/**
 * Derives {salt, master, authKey, wrapKey, passphrase} from the password.
 * `onProgress(fraction)` is called as scrypt runs (for the page's progress bar).
 * Every input is checked before any scrypt work, in client/'s order: WorkFactorError,
 * then SaltError / EmailError, then UsageError for the password.
 */
export async function deriveKeys({ email, accountSalt: saltBytes, password, workFactor,
  onProgress = undefined }) {
  checkWorkFactor(workFactor);
  const salt = scryptSalt(email, saltBytes);
  const master = await scryptAsync(passwordBytes(password), salt, {
    N: 2 ** workFactor, r: 8, p: 1, dkLen: 32, onProgress,
  });
  return keysFromMaster(salt, master);
}

/** auth_key and wrap_key: HKDF-SHA256(master, salt empty, info, 32), and the passphrase. */
export function keysFromMaster(salt, master) {
  requireBytes(master, "master", 32);
  const authKey = hkdf(sha256, master, undefined, AUTH_INFO, 32);
  const wrapKey = hkdf(sha256, master, undefined, WRAP_INFO, 32);
  return { salt, master, authKey, wrapKey, passphrase: base64url(wrapKey) };
}
