// Encoding of every signed or hashed object (SPEC-v2-crypto.md "statement"):
//   field(b) = u32be(len(b)) || b;  statement = field(tag) || field(f1) || ...
// The parser is strict (exact field count, no trailing bytes) so that one object has
// exactly one encoding and a signature cannot be moved to a different reading.
import { concat, fromUtf8, requireBytes, u32be, utf8 } from "./bytes.js";
import { InvalidInputError } from "./errors.js";

/** One length-prefixed field. */
export function field(bytes) {
  requireBytes(bytes, "field");
  return concat(u32be(bytes.length), bytes);
}

/** The statement bytes of an ASCII `tag` and byte `fields`, in order. */
export function statement(tag, ...fields) {
  return concat(field(ascii(tag)), ...fields.map(field));
}

/**
 * Splits `bytes` into its fields; refuses a truncated field or trailing bytes.
 * With `expectedTag`, the first field must be that tag and is dropped from the result.
 */
export function parseStatement(bytes, expectedTag = undefined) {
  requireBytes(bytes, "statement");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const fields = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < 4) throw new InvalidInputError("truncated field length");
    const length = view.getUint32(offset);
    offset += 4;
    if (length > bytes.length - offset) throw new InvalidInputError("field runs past the end");
    fields.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  if (expectedTag === undefined) return fields;
  if (fields.length === 0 || fromUtf8(fields[0]) !== expectedTag) {
    throw new InvalidInputError(`not a ${expectedTag} statement`);
  }
  return fields.slice(1);
}

/** Bytes of a printable-ASCII string (tags, kinds). */
export function ascii(text) {
  if (typeof text !== "string" || !/^[\x20-\x7e]*$/.test(text)) {
    throw new InvalidInputError("expected printable ASCII");
  }
  return utf8(text);
}
