// Email normalisation (SPEC-v2-crypto.md): one form for lookup, rate limits and salts.
//   normalise(x) = NFKC(lower(upper(NFKC(strip(x)))))
import { InvalidInputError } from "./errors.js";

// Python's str.strip() set (str.isspace), which the server and client/ use. JavaScript's
// trim() differs (it strips U+FEFF and keeps U+001C–U+001F and U+0085), so it is not used.
export const PYTHON_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const STRIP = new RegExp(`^[${PYTHON_SPACE}]+|[${PYTHON_SPACE}]+$`, "g");

/**
 * The normalised form of an email address. toUpperCase/toLowerCase without a locale
 * are Unicode's default full case mappings, like Python's str.upper/lower.
 * Raises InvalidInputError unless the result has exactly one "@" with text on both sides.
 */
export function normaliseEmail(address) {
  if (typeof address !== "string") throw new InvalidInputError("the address must be a string");
  const stripped = address.replace(STRIP, "");
  const folded = stripped.normalize("NFKC").toUpperCase().toLowerCase().normalize("NFKC");
  const parts = folded.split("@");
  if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
    throw new InvalidInputError("not an email address");
  }
  return folded;
}
