// The version 2 step-up on the client (docs/protocol.md §27): the current password is
// turned into auth_key exactly as for a login (prelogin's salt and work factor, derived
// in a Worker); the server gets {auth_key, code?}, never the password. The email change
// also re-derives under the NEW address's salt (same password) and re-wraps the
// identity under the new wrap key.
import { serializeIdentityFile } from "../../crypto/identityfile.js";
import { wrapIdentity } from "../../crypto/wrap.js";

import { toBase64, toBase64url } from "../accounts/encoding.js";
import { deriveInWorker, prelogin } from "../accounts/flows.js";

function wipe(keys) {
  for (const secret of [keys.master, keys.authKey, keys.wrapKey]) secret?.fill(0);
}

/** {auth_key, code?} for `email`'s current `password`. */
export async function stepUpBody(api, workerScript, email, password, code) {
  const params = await prelogin(api, email);
  const keys = await deriveInWorker(workerScript, email, params, password);
  try {
    return { auth_key: toBase64url(keys.authKey), ...(code ? { code } : {}) };
  } finally {
    wipe(keys);
  }
}

/**
 * The email change request: the step-up under the current address, then the new
 * address's salt (prelogin), keys derived with the same password at the account's
 * target work factor, and the identity wrapped under the new wrap key.
 */
export async function emailChangeBody(api, workerScript, { email, newEmail, password, code,
  identity }) {
  const current = await prelogin(api, email);
  const fresh = await prelogin(api, newEmail);
  const workFactor = Math.max(current.workFactor, fresh.workFactor);
  const old = await deriveInWorker(workerScript, email, current, password);
  const body = { auth_key: toBase64url(old.authKey), ...(code ? { code } : {}) };
  wipe(old);
  const keys = await deriveInWorker(workerScript, newEmail,
    { accountSalt: fresh.accountSalt, workFactor }, password);
  try {
    return { ...body, new_email: newEmail, new_account_salt: toBase64url(fresh.accountSalt),
      new_auth_key: toBase64url(keys.authKey), work_factor: workFactor,
      wrapped_identity: toBase64(await wrapIdentity(serializeIdentityFile(identity),
        keys.passphrase)) };
  } finally {
    wipe(keys);
  }
}
