// Avatars: a coloured disc with a person's or a group's initials beside their name. The
// initials are drawn by CSS from a data attribute (site.css `.v2-avatar::before`) and the
// disc is aria-hidden, so it adds nothing to the text or the accessible name of what it
// sits in: the name beside it says the same. No image is fetched or sent: only the name
// (a display name, an email address or the group's name) decides the letters, and the
// user id the colour, so that two people called "Sam" still look different.
import { el } from "./dom.js";

const HUES = 8; // .v2-avatar-0 … -7 in site.css, each dark enough for white letters

/** Up to two letters: the first of the first two words, or of an address's local part. */
export function initialsOf(name) {
  const base = String(name ?? "").split("@")[0];
  const words = base.split(/[\s._\-+]+/u).filter((word) => /[\p{L}\p{N}]/u.test(word));
  const letters = words.slice(0, 2).map((word) => [...word.match(/[\p{L}\p{N}]/u)[0]][0]);
  return letters.join("").toLocaleUpperCase() || "?";
}

/** The colour class of `key` (a user id or a conversation id): a stable small hash. */
export function hueOf(key) {
  let hash = 0;
  for (const char of String(key)) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return hash % HUES;
}

/** The avatar element of `name`, coloured by `key`. */
export function avatar(name, key) {
  return paintAvatar(el("span", { "aria-hidden": "true" }), name, key);
}

/** Makes `element` (an avatar, possibly of someone else before) the avatar of `name`,
 *  coloured by `key`: a list updated in place keeps its elements. Returns it. */
export function paintAvatar(element, name, key) {
  element.className = `v2-avatar v2-avatar-${hueOf(key)}`;
  element.dataset.initials = initialsOf(name);
  return element;
}
