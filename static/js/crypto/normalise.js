// Email normalisation (docs/protocol.md §2): one form for lookup, rate limits and salts.
//   normalise(x) = NFKC(lower(upper(NFKC(strip(x)))))
import { EmailError } from "./errors.js";

// strip() is exactly JavaScript's String.prototype.trim() set, written out (protocol.md
// §14.1, client.normalise.TRIM_CHARS) so it cannot drift with an engine's Unicode
// version: U+0009–U+000D, U+0020, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029,
// U+202F, U+205F, U+3000, U+FEFF. So U+FEFF is stripped and U+0085 is kept.
export const TRIM_CHARS = "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a"
  + "\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff";
const STRIP = new RegExp(`^[${TRIM_CHARS}]+|[${TRIM_CHARS}]+$`, "g");

/**
 * The normalised form of an email address. toUpperCase/toLowerCase without a locale
 * are Unicode's default full case mappings, like Python's str.upper/lower.
 * Raises EmailError unless the result has exactly one "@" with text on both sides and
 * encodes to UTF-8 (no lone surrogates).
 */
export function normaliseEmail(address) {
  if (typeof address !== "string") throw new EmailError("an address is a string");
  const stripped = address.replace(STRIP, "");
  const folded = stripped.normalize("NFKC").toUpperCase().toLowerCase().normalize("NFKC");
  const parts = folded.split("@");
  if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
    throw new EmailError("not an address (needs one @ between non-empty parts)");
  }
  if (!folded.isWellFormed()) throw new EmailError("the address is not valid Unicode");
  return folded;
}
