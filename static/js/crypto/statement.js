// Encoding of every signed or hashed object (docs/protocol.md §1):
//   field(b) = u32be(len(b)) || b;  statement = field(tag) || field(f1) || ...
// The parser is strict (exact field count, no trailing bytes) so that one object has
// exactly one encoding and a signature cannot be moved to a different reading.
// Encoding a bad value is the caller's mistake (UsageError); parsing untrusted bytes
// that are not canonical is StatementError ("bad_statement"), as in client/statements.py.
import { bech32 } from "@scure/base";

import { concat, readU64, requireBytes, u32be, utf8 } from "./bytes.js";
import { StatementError, UsageError } from "./errors.js";

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
 * Raises StatementError.
 */
export function parseStatement(bytes, expectedTag = undefined) {
  if (!(bytes instanceof Uint8Array)) throw new StatementError("a statement is bytes");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const fields = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < 4) throw new StatementError("truncated field length");
    const length = view.getUint32(offset);
    offset += 4;
    if (length > bytes.length - offset) throw new StatementError("field runs past the end");
    fields.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  if (expectedTag === undefined) return fields;
  if (fields.length === 0 || !bytesAre(fields[0], expectedTag)) {
    throw new StatementError(`not a ${expectedTag} statement`);
  }
  return fields.slice(1);
}

function bytesAre(bytes, text) {
  return bytes.length === text.length && bytes.every((b, i) => b === text.charCodeAt(i));
}

/** Bytes of a printable-ASCII string (tags). */
export function ascii(text) {
  if (typeof text !== "string" || !/^[\x20-\x7e]*$/.test(text)) {
    throw new UsageError("expected printable ASCII");
  }
  return utf8(text);
}

const TOKEN = /^[\x21-\x7e]+$/;

/** Bytes of an ASCII token (`kind`): 1 or more characters in 0x21–0x7E (§1); UsageError. */
export function token(text) {
  if (typeof text !== "string" || !TOKEN.test(text)) {
    throw new UsageError("a token is non-empty printable ASCII without spaces");
  }
  return utf8(text);
}

// Recipient kinds: the Bech32 prefix and the key's length (X25519 32; ML-KEM-768 + X25519).
const RECIPIENT_SIZES = { age: 32, age1pq: 1184 + 32 };

/**
 * True when `text` is an age recipient in its one canonical form (§1): lowercase
 * Bech32 `age1…` (32 bytes) or `age1pq1…` (1216 bytes) with a valid checksum, so
 * decoding and encoding again gives the same string.
 */
export function isCanonicalRecipient(text) {
  if (typeof text !== "string" || !TOKEN.test(text)) return false;
  try {
    const { prefix, words } = bech32.decode(text, false);
    const data = bech32.fromWords(words);
    return RECIPIENT_SIZES[prefix] === data.length
      && bech32.encode(prefix, words, false) === text;
  } catch {
    return false; // not bech32 at all: the answer is "not a recipient", not a failure
  }
}

/** Bytes of a canonical age recipient; UsageError otherwise (the encoder's side). */
export function recipientField(text) {
  if (!isCanonicalRecipient(text)) throw new UsageError("not a canonical age recipient");
  return utf8(text);
}

/**
 * Reads `fields` (already split, tag dropped) against `schema`, a list of
 * [name, kind] with kind "u64", a byte length, "raw" (any length), "token" or "recipient"; returns
 * {name: value} (u64 as BigInt, bytes copied, text as string). Raises StatementError
 * for a wrong count or any value the encoder could not have written.
 */
export function readFields(schema, fields) {
  if (fields.length !== schema.length) {
    throw new StatementError(`expected ${schema.length} fields, not ${fields.length}`);
  }
  const out = {};
  schema.forEach(([name, kind], i) => { out[name] = readValue(name, kind, fields[i]); });
  return out;
}

function readValue(name, kind, raw) {
  if (kind === "u64") {
    if (raw.length !== 8) throw new StatementError(`${name}: a u64 field is 8 bytes`);
    return readU64(raw);
  }
  if (kind === "raw") return raw.slice();
  if (typeof kind === "number") {
    if (raw.length !== kind) throw new StatementError(`${name}: expected ${kind} bytes`);
    return raw.slice();
  }
  const text = String.fromCharCode(...raw);
  if (!TOKEN.test(text)) throw new StatementError(`${name}: not printable ASCII`);
  if (kind === "recipient" && !isCanonicalRecipient(text)) {
    throw new StatementError(`${name}: not a canonical age recipient`);
  }
  return text;
}
