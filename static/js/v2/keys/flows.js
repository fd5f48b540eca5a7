// The account changes that touch keys, made in the browser exactly as client/changes.py
// makes them (docs/protocol.md §25, docs/api.md "Version 2 account changes"): password
// change (optionally with a rotation), rotation, export, the reset with or without the
// recovery code, the cancel of a held reset and the work-factor upgrade after login.
// UI-free: ./section.js and ./reset.js drive these with callbacks for progress and the
// second-factor code. What leaves the page is what the server stores: auth keys, age
// files (under a wrap key or to a recovery recipient made here), public keys and
// signatures; never the password, a wrap key or a recovery code.
import { Encrypter, identityToRecipient } from "age-encryption";

import { randomBytes, u64be } from "../../crypto/bytes.js";
import { checkWorkFactor } from "../../crypto/derive.js";
import { signEndorsement } from "../../crypto/endorsement.js";
import {
  identitySigningKey, parseIdentityFile, serializeIdentityFile, wrapToRecovery,
} from "../../crypto/identityfile.js";
import { signStatement } from "../../crypto/message.js";
import { generateRecoveryCode, identityFromSeed, recoveryIdentity } from "../../crypto/recovery.js";
import { statement } from "../../crypto/statement.js";
import { unwrapRecoveryCopy, wrapIdentity } from "../../crypto/wrap.js";
import { ApiFailure } from "../accounts/api.js";
import { fromBase64, fromBase64url, toBase64, toBase64url } from "../accounts/encoding.js";
import {
  ProtocolFailure, checkEndorsementChain, deriveInWorker, prelogin, selfCheck,
} from "../accounts/flows.js";
import { rememberParameters } from "../accounts/known.js";

/** The export's scrypt work factor (DESIGN.md §3: 18-20, so `age -d` and typage open it). */
export const EXPORT_WORK_FACTOR = 18;
export const RESET_CANCEL_TAG = "securechat/v2/reset-cancel";
const KEY_TYPES = ["hybrid", "x25519"];
const CODE_ATTEMPTS = 5;

/**
 * POST `body`; while the server asks for a second-factor code (code_required) or refuses
 * one (invalid_code), ask `askCode(failure)` for one and resend. A refused request
 * changed nothing on the server, so resending the same body is safe.
 */
export async function postSteppedUp(api, path, body, askCode) {
  let sent = body;
  for (let attempt = 0; ; attempt++) {
    try {
      return await api.post(path, sent);
    } catch (failure) {
      const again = failure instanceof ApiFailure
        && (failure.code === "code_required" || failure.code === "invalid_code");
      if (!again || attempt >= CODE_ATTEMPTS) throw failure;
      sent = { ...body, code: await askCode(failure) };
    }
  }
}

function wipe(keys) {
  for (const secret of [keys?.master, keys?.authKey, keys?.wrapKey]) secret?.fill(0);
}

/** The step-up: the account's parameters (checked) and the keys of the current password. */
async function stepUp(api, email, password, { workerScript, onProgress }) {
  const params = await prelogin(api, email);
  const keys = await deriveInWorker(workerScript, email, params, password,
    (f) => onProgress?.("current", f));
  return { params, keys };
}

/** The directory and work factors of a complete login, the identity self-checked. */
async function checkedState(api, identity) {
  const state = await api.get("/api/v1/me/wrapped-identity");
  await selfCheck(identity, state?.key_generations);
  checkEndorsementChain(state.user_id, state.key_generations,
    Math.min(...identity.generations.map((g) => g.number)));
  return state;
}

function newestKeyType(generations) {
  const newest = generations.reduce((a, b) => (b.number > a.number ? b : a));
  if (!KEY_TYPES.includes(newest.key_type)) throw new ProtocolFailure("unknown key type");
  return newest.key_type;
}

/** max(account's, server's) work factor, range checked before any derivation. */
function targetWorkFactor(accountWorkFactor, serverWorkFactor) {
  return checkWorkFactor(Math.max(accountWorkFactor, serverWorkFactor ?? accountWorkFactor));
}

/**
 * The next generation on top of `identity` (fresh age and Ed25519 keys; the older
 * generations stay, newest first) and the request fields that publish it: public keys,
 * both endorsements (protocol.md §11) and the recovery copy of the new file.
 */
export async function rotationFields(identity, userId, keyType) {
  const number = identity.signingGeneration + 1;
  const next = { generations: [{ number, identity: identityFromSeed(randomBytes(32), keyType) },
    ...identity.generations], signingSeed: randomBytes(32), signingGeneration: number,
  recoveryRecipient: identity.recoveryRecipient };
  const recipient = await identityToRecipient(next.generations[0].identity);
  const newKeys = { userId, generation: number, recipient, ed25519: identitySigningKey(next) };
  const oldKeys = { userId, generation: identity.signingGeneration,
    recipient: await identityToRecipient(identity.generations[0].identity),
    ed25519: identitySigningKey(identity) };
  const forward = signEndorsement(identity.signingSeed, newKeys).signature;
  const back = signEndorsement(next.signingSeed, oldKeys).signature;
  return { identity: next, fields: {
    generation: number, recipient, signing_key: toBase64url(newKeys.ed25519),
    endorsement: toBase64url(forward), endorsement_back: toBase64url(back),
    recovery_wrapped: toBase64(await wrapToRecovery(next)),
  } };
}

/**
 * Password change: step-up with the current password, then the new password derived at
 * max(account's, server's) work factor and the identity (rotated first when `rotate`)
 * wrapped under it, in ONE request. Other sessions end. Resolves to {identity,
 * identityText, workFactor} of the file now in force.
 */
export async function changePassword(api, { email, userId, identity, password, newPassword,
  rotate = false, shared = false, workerScript, onProgress, askCode }) {
  const { params, keys } = await stepUp(api, email, password, { workerScript, onProgress });
  try {
    const state = await checkedState(api, identity);
    const target = targetWorkFactor(params.workFactor, state.target_work_factor);
    let next = identity;
    let extra = {};
    if (rotate) {
      ({ identity: next, fields: extra } = await rotationFields(identity, userId,
        newestKeyType(state.key_generations)));
    }
    const newKeys = await deriveInWorker(workerScript, email,
      { accountSalt: params.accountSalt, workFactor: target }, newPassword,
      (f) => onProgress?.("new", f));
    const identityText = serializeIdentityFile(next);
    try {
      await postSteppedUp(api, "/api/v1/me/v2/password", {
        auth_key: toBase64url(keys.authKey), new_auth_key: toBase64url(newKeys.authKey),
        work_factor: target,
        wrapped_identity: toBase64(await wrapIdentity(identityText, newKeys.passphrase)),
        ...extra,
      }, askCode);
    } finally {
      wipe(newKeys);
    }
    if (!shared) rememberParameters(email, { accountSalt: params.accountSalt, workFactor: target });
    return { identity: next, identityText, workFactor: target };
  } finally {
    wipe(keys);
  }
}

/** Rotation: a new generation endorsed both ways, wrapped under the same password. */
export async function rotateKeys(api, { email, userId, identity, password, workerScript,
  onProgress, askCode }) {
  const { keys } = await stepUp(api, email, password, { workerScript, onProgress });
  try {
    const state = await checkedState(api, identity);
    const { identity: next, fields } = await rotationFields(identity, userId,
      newestKeyType(state.key_generations));
    const identityText = serializeIdentityFile(next);
    const answer = await postSteppedUp(api, "/api/v1/me/v2/rotate-keys", {
      auth_key: toBase64url(keys.authKey),
      wrapped_identity: toBase64(await wrapIdentity(identityText, keys.passphrase)), ...fields,
    }, askCode);
    return { identity: next, identityText, generation: answer?.key_generation };
  } finally {
    wipe(keys);
  }
}

/**
 * Export: the step-up (the server records it and mails the owner), then the identity
 * file encrypted here under the password itself (age, one scrypt stanza of work factor
 * 18): `age -d` with the password gives a file `age -d -i` accepts. Resolves to bytes.
 */
export async function exportIdentity(api, { email, identity, password, workerScript,
  onProgress, askCode }) {
  const { keys } = await stepUp(api, email, password, { workerScript, onProgress });
  try {
    await postSteppedUp(api, "/api/v1/me/v2/exported", { auth_key: toBase64url(keys.authKey) },
      askCode);
  } finally {
    wipe(keys);
  }
  const encrypter = new Encrypter();
  encrypter.setPassphrase(password);
  encrypter.setScryptWorkFactor(EXPORT_WORK_FACTOR);
  return encrypter.encrypt(serializeIdentityFile(identity));
}

/**
 * Right after a login: when the server's work factor is above the account's, the same
 * password derived at it and the identity re-wrapped (POST /api/v1/me/v2/work-factor,
 * within 10 minutes of the login). Resolves to the work factor now in force.
 */
export async function upgradeWorkFactor(api, { email, params, authKey, password, identityText,
  targetWorkFactor: serverWorkFactor, shared = false, workerScript, onProgress }) {
  const target = targetWorkFactor(params.workFactor, serverWorkFactor);
  if (target <= params.workFactor) return params.workFactor;
  const newKeys = await deriveInWorker(workerScript, email,
    { accountSalt: params.accountSalt, workFactor: target }, password, onProgress);
  try {
    await api.post("/api/v1/me/v2/work-factor", {
      auth_key: toBase64url(authKey), new_auth_key: toBase64url(newKeys.authKey),
      work_factor: target,
      wrapped_identity: toBase64(await wrapIdentity(identityText, newKeys.passphrase)),
    });
  } finally {
    wipe(newKeys);
  }
  if (!shared) rememberParameters(email, { accountSalt: params.accountSalt, workFactor: target });
  return target;
}

// --- reset (no login: the emailed link) ------------------------------------------------

/**
 * What the emailed link opens ({uid, token}): the account's address, key type, account
 * salt, work factor, recovery copy and directory rows (POST …/reset/recovery; changes
 * nothing). Checked for shape here.
 */
export async function resetMaterial(api, link) {
  const material = await api.post("/api/v1/auth/v2/reset/recovery",
    { uid: link.uid, token: link.token });
  if (typeof material?.email !== "string" || !KEY_TYPES.includes(material.key_type)
      || !Array.isArray(material.key_generations) || !Number.isSafeInteger(material.user_id)) {
    throw new ProtocolFailure("the reset answer is malformed");
  }
  return material;
}

/** Prelogin's parameters for the account, compared with the reset answer's salt. */
async function resetParameters(api, material) {
  const params = await prelogin(api, material.email);
  let salt;
  try {
    salt = fromBase64url(material.account_salt, 16);
  } catch {
    throw new ProtocolFailure("the reset answer's account salt is malformed");
  }
  if (toBase64url(salt) !== toBase64url(params.accountSalt)) {
    throw new ProtocolFailure("the reset answer's account salt differs from prelogin's");
  }
  return { params, target: targetWorkFactor(params.workFactor,
    checkWorkFactor(material.work_factor)) };
}

/**
 * Opens the recovery copy with the code and checks it against the directory and the
 * endorsement chain (stops with DirectoryMismatch otherwise). Resolves to the identity.
 */
export async function openRecovery(material, recoveryCode) {
  let copy;
  try {
    copy = fromBase64(material.recovery_wrapped);
  } catch {
    throw new ProtocolFailure("the recovery copy is not base64");
  }
  const identity = parseIdentityFile(
    await unwrapRecoveryCopy(copy, recoveryCode, material.key_type));
  await selfCheck(identity, material.key_generations);
  checkEndorsementChain(material.user_id, material.key_generations,
    Math.min(...identity.generations.map((g) => g.number)));
  return identity;
}

/**
 * Reset with the recovery code: the keys are kept (history stays readable); a NEW
 * recovery code is made here and its recipient written into the file. Resolves to
 * {recoveryCode (the new one, to show once), email}.
 */
export async function resetWithRecoveryCode(api, { link, material, recoveryCode, newPassword,
  workerScript, onProgress, askCode }) {
  const identity = await openRecovery(material, recoveryCode);
  const fresh = await recoveryIdentity(generateRecoveryCode(), material.key_type);
  identity.recoveryRecipient = fresh.recipient;
  await postResetKeys(api, "/api/v1/auth/v2/reset/confirm", identity, {}, { link, material,
    newPassword, workerScript, onProgress, askCode });
  return { recoveryCode: fresh.normalised, email: material.email };
}

/**
 * Both resets' last step: the new password derived at the reset's work factor, then
 * `identity` wrapped under it and to its recovery recipient, posted to `path` with the
 * link, the new auth key and `fields` (a second factor asked for when the server wants
 * one). Resolves to the server's answer; the account's parameters are remembered.
 */
async function postResetKeys(api, path, identity, fields, { link, material, newPassword,
  workerScript, onProgress, askCode }) {
  const { params, target } = await resetParameters(api, material);
  const keys = await deriveInWorker(workerScript, material.email,
    { accountSalt: params.accountSalt, workFactor: target }, newPassword, onProgress);
  let answer;
  try {
    answer = await postSteppedUp(api, path, {
      uid: link.uid, token: link.token, auth_key: toBase64url(keys.authKey),
      work_factor: target, ...fields,
      wrapped_identity: toBase64(await wrapIdentity(serializeIdentityFile(identity),
        keys.passphrase)),
      recovery_wrapped: toBase64(await wrapToRecovery(identity)),
    }, askCode);
  } finally {
    wipe(keys);
  }
  rememberParameters(material.email, { accountSalt: params.accountSalt, workFactor: target });
  return answer;
}

/**
 * Reset without the recovery code: a new identity whose only generation is the
 * directory's newest plus 1 (unendorsed: nothing can sign for it), a new recovery code
 * and the new password, held by the server before they take effect (cancellable).
 * Resolves to {recoveryCode, publishAt, hold, email}.
 */
export async function holdReset(api, { link, material, newPassword, workerScript, onProgress,
  askCode }) {
  const newest = material.key_generations.reduce((n, entry) => Math.max(n, entry.number), 0);
  const fresh = await recoveryIdentity(generateRecoveryCode(), material.key_type);
  const number = newest + 1;
  const identity = { generations: [{ number,
    identity: identityFromSeed(randomBytes(32), material.key_type) }],
  signingSeed: randomBytes(32), signingGeneration: number, recoveryRecipient: fresh.recipient };
  const answer = await postResetKeys(api, "/api/v1/auth/v2/reset/hold", identity, {
    generation: number,
    recipient: await identityToRecipient(identity.generations[0].identity),
    signing_key: toBase64url(identitySigningKey(identity)),
  }, { link, material, newPassword, workerScript, onProgress, askCode });
  return { recoveryCode: fresh.normalised, publishAt: answer?.publish_at, hold: answer?.hold,
    email: material.email };
}

// --- held resets ------------------------------------------------------------------------

/** The reset waiting on this account ({id, publish_at}) and the user id, or hold null. */
export async function pendingReset(api) {
  const answer = await api.get("/api/v1/me/v2/reset");
  return { userId: answer?.user_id, hold: answer?.hold ?? null };
}

/** statement("securechat/v2/reset-cancel", u64 user_id, u64 hold) (protocol.md §25). */
export function resetCancelStatement(userId, hold) {
  return statement(RESET_CANCEL_TAG, u64be(userId), u64be(hold));
}

/**
 * Cancels the held reset `hold` with a cancel signed by the current generation's key
 * (which needs no session: it wins even when an attacker ended this one).
 */
export async function cancelHeldReset(api, { identity, userId, hold }) {
  const signature = signStatement(identity.signingSeed, resetCancelStatement(userId, hold));
  return api.post("/api/v1/auth/v2/reset/cancel",
    { user_id: userId, hold, signature: toBase64url(signature) });
}

/** Cancels a held reset with the emailed link's token (no login). */
export function cancelWithLink(api, token) {
  return api.post("/api/v1/auth/v2/reset/cancel", { cancel_token: token });
}
