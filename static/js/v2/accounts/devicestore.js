// The identity kept across reloads and tabs (DESIGN.md §3, docs/protocol.md "Device
// blob"): the identity file, sealed with AES-256-GCM under this login session's device
// key (GET /api/v1/me/device-key, imported non-extractable), AAD
// "securechat/v2/device-blob" ‖ u64be(user id), stored in localStorage. The key dies
// with the session (logout, revocation, idle timeout), and with it the blob's value.
import { logFailure } from "../../common/log.js";
import { concat, randomBytes, u64be, utf8 } from "../../crypto/bytes.js";

import { fromBase64url, toBase64url } from "./encoding.js";

export const DEVICE_BLOB_KEY = "securechat/v2/device-blob";
const AAD_TAG = utf8("securechat/v2/device-blob");
const IV_BYTES = 12;

/** The session's device key as a non-extractable AES-GCM CryptoKey. */
export async function fetchDeviceKey(api) {
  const answer = await api.get("/api/v1/me/device-key");
  const raw = fromBase64url(answer?.device_key, 32);
  try {
    return await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  } finally {
    raw.fill(0);
  }
}

/** The page's session answers for fetchDeviceKey (same origin, no cache). */
const sessionApi = {
  async get(path) {
    const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  },
};

/** The device key of the page's own session (for stores outside the shell's Api:
 *  files/resumestore.js, chat/outbox.js). */
export function fetchSessionDeviceKey() {
  return fetchDeviceKey(sessionApi);
}

function aad(userId) {
  return concat(AAD_TAG, u64be(userId));
}

/** Seals the identity file text for `userId` and stores it (replacing any other). */
export async function storeIdentity(deviceKey, userId, identityText) {
  const iv = randomBytes(IV_BYTES);
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad(userId) },
    deviceKey, utf8(identityText));
  localStorage.setItem(DEVICE_BLOB_KEY, JSON.stringify({
    v: 1, user_id: userId, iv: toBase64url(iv), ciphertext: toBase64url(new Uint8Array(sealed)),
  }));
}

/** The stored blob's {userId, iv, ciphertext}, or null when none (or a damaged one) is stored. */
export function storedBlob() {
  const text = localStorage.getItem(DEVICE_BLOB_KEY);
  if (text === null) return null;
  try {
    const blob = JSON.parse(text);
    if (blob.v !== 1 || !Number.isSafeInteger(blob.user_id)) throw new Error("unknown blob");
    return { userId: blob.user_id, iv: fromBase64url(blob.iv, IV_BYTES),
      ciphertext: fromBase64url(blob.ciphertext) };
  } catch (error) {
    logFailure("device blob", "unreadable, dropped", error);
    forgetIdentity();
    return null;
  }
}

/** The identity file text of the stored blob for `userId`; rejects when it does not open. */
export async function openStoredIdentity(deviceKey, blob, userId) {
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: blob.iv, additionalData: aad(userId) }, deviceKey, blob.ciphertext);
  return new TextDecoder("utf-8", { fatal: true }).decode(plain);
}

/** Deletes the stored blob (logout, revocation, another account). */
export function forgetIdentity() {
  localStorage.removeItem(DEVICE_BLOB_KEY);
}
