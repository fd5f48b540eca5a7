// What this browser remembers about each account it logged into (DESIGN.md §3): the
// last (account_salt, work factor) per (origin, normalised address), in localStorage.
// A server answering a different salt or a lower work factor is refused before any
// derivation (crypto/params.js checkAccountParameters); a raise becomes the new floor.
import { normaliseEmail } from "../../crypto/normalise.js";

import { fromBase64url, toBase64url } from "./encoding.js";

export const KNOWN_ACCOUNTS_KEY = "securechat/v2/known-accounts";

function entries() {
  try {
    const data = JSON.parse(localStorage.getItem(KNOWN_ACCOUNTS_KEY) ?? "{}");
    return data && typeof data === "object" && !Array.isArray(data) ? data : {};
  } catch (error) {
    // A damaged record must not silently drop the protection of every account: refuse.
    throw new Error("this browser's record of known accounts is damaged", { cause: error });
  }
}

function keyOf(email) {
  return `${location.origin} ${normaliseEmail(email)}`;
}

/** {accountSalt (16 bytes), workFactor} remembered for `email` here, or null. */
export function rememberedParameters(email) {
  const entry = entries()[keyOf(email)];
  if (entry === undefined) return null;
  return { accountSalt: fromBase64url(entry.account_salt, 16), workFactor: entry.work_factor };
}

/** Records parameters this browser used successfully (signup, login). */
export function rememberParameters(email, { accountSalt, workFactor }) {
  const data = entries();
  data[keyOf(email)] = { account_salt: toBase64url(accountSalt), work_factor: workFactor };
  localStorage.setItem(KNOWN_ACCOUNTS_KEY, JSON.stringify(data));
}

/** Forgets `email`'s parameters (the account was deleted: nothing of it stays here). */
export function forgetParameters(email) {
  const data = entries();
  delete data[keyOf(email)];
  localStorage.setItem(KNOWN_ACCOUNTS_KEY, JSON.stringify(data));
}
