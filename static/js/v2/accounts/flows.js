// The v2 account flows of the browser, as client/account.py does them (docs/api.md,
// docs/protocol.md "Browser account flows"): the server never receives the password,
// `master`, `wrap_key` or an unwrapped key. UI-free: views.js drives these with callbacks
// for progress and the second-factor code.
import { identityToRecipient } from "age-encryption";

import { bytesEqual } from "../../crypto/bytes.js";
import { endorsementStatement, verifyEndorsement } from "../../crypto/endorsement.js";
import { deriveKeysInWorker } from "../../crypto/derive-client.js";
import { CryptoError } from "../../crypto/errors.js";
import {
  createIdentityFile, identitySigningKey, parseIdentityFile, serializeIdentityFile, wrapToRecovery,
} from "../../crypto/identityfile.js";
import { checkAccountParameters } from "../../crypto/params.js";
import { generateRecoveryCode, recoveryIdentity } from "../../crypto/recovery.js";
import { startWorker } from "../../crypto/worker-start.js";
import { unwrapIdentity, wrapIdentity } from "../../crypto/wrap.js";

import { fromBase64, fromBase64url, toBase64, toBase64url } from "./encoding.js";
import { rememberedParameters, rememberParameters } from "./known.js";

/** The directory lists key generations this identity never made (DESIGN.md §3 alarm). */
export class DirectoryMismatch extends CryptoError {
  constructor(message) {
    super("directory_mismatch", message);
    this.name = "DirectoryMismatch";
  }
}

/** The server's answer has the wrong shape (a lying or broken server). */
export class ProtocolFailure extends CryptoError {
  constructor(message) {
    super("protocol", message);
    this.name = "ProtocolFailure";
  }
}

/** The prelogin answer for `email`, checked (range, salt size, remembered values). */
export async function prelogin(api, email) {
  const answer = await api.post("/api/v1/auth/prelogin", { email });
  let accountSalt;
  try {
    accountSalt = fromBase64url(answer?.account_salt, 16);
  } catch {
    throw new ProtocolFailure("the server's account salt is not 16 bytes of base64url");
  }
  // Before any derivation: a lying server costs nothing (WorkFactorError, SaltError,
  // AccountParametersError).
  return checkAccountParameters(rememberedParameters(email),
    { accountSalt, workFactor: answer?.work_factor });
}

/** auth_key, wrap_key and the passphrase, derived in a Worker (the page never freezes). */
export async function deriveInWorker(workerScript, email, params, password, onProgress) {
  const worker = await startWorker(workerScript.url, workerScript.integrity,
    { name: "securechat-derive" });
  try {
    return await deriveKeysInWorker(worker, { email, accountSalt: params.accountSalt, password,
      workFactor: params.workFactor }, { onProgress });
  } finally {
    worker.terminate();
  }
}

/**
 * Signup: keys and recovery code made here; uploads public keys and the two wrapped
 * copies. Resolves to {identity, recoveryCode, stage}; the code is shown, never sent.
 */
export async function signup(api, { email, password, keyType, workerScript, onProgress,
  invitation }) {
  const params = await prelogin(api, email);
  const recoveryCode = generateRecoveryCode();
  const recovery = await recoveryIdentity(recoveryCode, keyType);
  const identity = createIdentityFile(keyType, recovery.recipient);
  const keys = await deriveInWorker(workerScript, email, params, password, onProgress);
  const text = serializeIdentityFile(identity);
  const recipient = await identityToRecipient(identity.generations[0].identity);
  let stage;
  try {
    stage = await api.post("/api/v1/auth/signup", {
      email, auth_key: toBase64url(keys.authKey), account_salt: toBase64url(params.accountSalt),
      work_factor: params.workFactor, key_type: keyType,
      recipient,
      signing_key: toBase64url(identitySigningKey(identity)),
      wrapped_identity: toBase64(await wrapIdentity(text, keys.passphrase)),
      recovery_wrapped: toBase64(await wrapToRecovery(identity)),
      // An invitation link's token (invite-only registration, `manage.py createadmin`).
      ...(invitation ? { invitation } : {}),
    });
  } finally {
    for (const secret of [keys.master, keys.authKey, keys.wrapKey]) secret.fill(0);
  }
  api.forgetCsrf();
  rememberParameters(email, params);
  return { identity, identityText: text, recipient, recoveryCode: recovery.normalised, stage };
}

/**
 * Login up to the second factor: prelogin, derive, POST login. Resolves to
 * {params, keys, stage} where stage is the server's {otp_required, enrolment_required}.
 */
export async function startLogin(api, { email, password, workerScript, onProgress }) {
  const params = await prelogin(api, email);
  const keys = await deriveInWorker(workerScript, email, params, password, onProgress);
  try {
    const stage = await api.post("/api/v1/auth/login",
      { email, auth_key: toBase64url(keys.authKey) });
    api.forgetCsrf();
    return { params, keys, stage };
  } finally {
    // Only the wrap key (for the unlock) and the auth key (for a work-factor upgrade
    // right after it) are needed from here; the login view wipes both.
    keys.master.fill(0);
  }
}

/** The second factor (TOTP or backup code) of a login in progress. */
export async function sendCode(api, code) {
  await api.post("/api/v1/auth/otp", { code });
  api.forgetCsrf();
}

/**
 * After a complete login: fetch the wrapped identity, unwrap it here (its header is
 * checked before scrypt), self-check against the directory, and remember the
 * parameters unless `shared` (a shared computer keeps nothing, not even the address).
 * Resolves to {identity, identityText, recipient (the current age recipient), workFactor,
 * targetWorkFactor} (the account's and the server's: a login upgrades when they differ).
 */
export async function unlock(api, email, { params, keys, shared = false }) {
  const answer = await api.get("/api/v1/me/wrapped-identity");
  let blob;
  try {
    blob = fromBase64(answer?.wrapped_identity);
  } catch {
    throw new ProtocolFailure("the server's wrapped identity is not base64");
  }
  const identityText = await unwrapIdentity(blob, keys.passphrase);
  keys.wrapKey.fill(0); // the passphrase string cannot be wiped; it goes with `keys`
  const identity = parseIdentityFile(identityText);
  const recipient = await selfCheck(identity, answer?.key_generations);
  checkEndorsementChain(answer?.user_id, answer.key_generations,
    Math.min(...identity.generations.map((g) => g.number)));
  if (!shared) rememberParameters(email, params);
  return { identity, identityText, recipient, workFactor: answer?.work_factor,
    targetWorkFactor: answer?.target_work_factor };
}

/**
 * Refuses (DirectoryMismatch) unless the directory lists exactly the identity's
 * generations with their recipients, and the newest with the identity's signing key
 * (client/account.py self_check). Resolves to the current generation's recipient
 * (computing a hybrid recipient is the costly part: callers reuse it).
 */
export async function selfCheck(identity, generations) {
  if (!Array.isArray(generations)) throw new ProtocolFailure("the directory is not a list");
  const mine = new Map();
  for (const { number, identity: line } of identity.generations) {
    mine.set(number, await identityToRecipient(line));
  }
  const listed = new Map();
  for (const entry of generations) {
    if (!Number.isSafeInteger(entry?.number)) throw new ProtocolFailure("a generation lacks its number");
    if (listed.has(entry.number)) {
      throw new DirectoryMismatch(`the directory lists key generation ${entry.number} twice`);
    }
    listed.set(entry.number, entry);
  }
  // After a reset without the recovery code the file starts at a later, unendorsed
  // generation: the directory's older ones (unreadable history) are not compared.
  const oldest = Math.min(...mine.keys());
  const boundary = oldest > 1 && listed.has(oldest) && !listed.get(oldest).endorsement ? oldest : 1;
  for (const [number, entry] of listed) {
    if (number < boundary) continue;
    if (!mine.has(number)) {
      throw new DirectoryMismatch(
        `the directory lists key generation ${number}, which you never made`);
    }
    if (entry.recipient !== mine.get(number)) {
      throw new DirectoryMismatch(`the directory's key generation ${number} is not your key`);
    }
  }
  if ([...mine.keys()].some((number) => !listed.has(number))) {
    throw new DirectoryMismatch("the directory is missing key generations you have");
  }
  let signing;
  try {
    signing = fromBase64url(listed.get(identity.signingGeneration).signing_key, 32);
  } catch {
    throw new ProtocolFailure("the directory's signing key is malformed");
  }
  if (!bytesEqual(signing, identitySigningKey(identity))) {
    throw new DirectoryMismatch("the directory's signing key is not yours");
  }
  return mine.get(identity.generations[0].number);
}

function endorsed(userId, entry) {
  try {
    return { userId, generation: entry.number, recipient: entry.recipient,
      ed25519: fromBase64url(entry.signing_key, 32) };
  } catch {
    throw new ProtocolFailure("the directory's signing key is malformed");
  }
}

/**
 * Refuses (DirectoryMismatch) unless every listed generation from `since` on after the
 * first is endorsed both ways by its predecessor (protocol.md §11; client/changes.py
 * check_endorsement_chain): with selfCheck this ties every older generation's keys to
 * the identity. `since` is the identity file's oldest generation (a file made by a
 * reset without the recovery code starts unendorsed).
 */
export function checkEndorsementChain(userId, generations, since = 1) {
  if (!Number.isSafeInteger(userId)) throw new ProtocolFailure("the answer lacks a valid user_id");
  const byNumber = new Map(generations.map((entry) => [entry.number, entry]));
  const numbers = [...byNumber.keys()].filter((n) => n >= since).sort((a, b) => a - b);
  for (let i = 1; i < numbers.length; i++) {
    const [previous, number] = [numbers[i - 1], numbers[i]];
    if (previous !== number - 1) {
      throw new DirectoryMismatch(`the directory skips key generation ${number - 1}`);
    }
    const entry = byNumber.get(number);
    const old = endorsed(userId, byNumber.get(previous));
    const now = endorsed(userId, entry);
    try {
      verifyEndorsement(old.ed25519, endorsementStatement(now), fromBase64url(entry.endorsement, 64));
      verifyEndorsement(now.ed25519, endorsementStatement(old),
        fromBase64url(entry.endorsement_back, 64));
    } catch {
      throw new DirectoryMismatch(
        `key generation ${number} is not endorsed both ways by generation ${previous}`);
    }
  }
}
