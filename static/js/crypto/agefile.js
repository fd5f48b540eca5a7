// Age files as the group modules use them: the v1 header, read as agecrypt's parse_header
// reads it (agecrypt/header.py), so the file hash (§18) and epoch envelopes (§16) check a
// header's shape and count its stanzas without any key (each caller names its own typed
// error through `refuse(message)`), and a Decrypter of the caller's identities.
import { Decrypter } from "age-encryption";
import { base64nopad } from "@scure/base";

import { UsageError } from "./errors.js";

const VERSION_LINE = "age-encryption.org/v1";
const MAX_STANZAS = 1024;
const COLUMNS = 64;
const MAX_HEADER_BYTES = 4 * 1024 * 1024;
const NONCE_SIZE = 16;
const TAG_SIZE = 16;
export const ENC_CHUNK_SIZE = 64 * 1024 + TAG_SIZE;
const latin1 = new TextDecoder("latin1");

/** Canonical unpadded standard base64 (agecrypt's b64decode); refuse(…) otherwise. */
function decodeBase64(text, refuse) {
  let out;
  try {
    out = base64nopad.decode(text);
  } catch (error) {
    throw refuse(`invalid base64 in the age header (${error.message})`);
  }
  if (base64nopad.encode(out) !== text) throw refuse("non-canonical base64 in the age header");
  return out;
}

/** Reads one stanza from lines[i] on; returns [its arguments, the index after it]. */
function readStanza(lines, i, refuse) {
  if (!lines[i].startsWith("-> ")) throw refuse("unexpected age header line");
  const args = lines[i].slice(3).split(" ");
  if (!args.every((arg) => /^[\x21-\x7e]+$/.test(arg))) throw refuse("invalid stanza argument");
  for (let j = i + 1; ; j += 1) {
    if (j >= lines.length - 1) throw refuse("the age header ends inside a stanza");
    if (lines[j].length > COLUMNS) throw refuse("stanza body line longer than 64 columns");
    decodeBase64(lines[j], refuse);
    if (lines[j].length < COLUMNS) return [args, j + 1];
  }
}

/**
 * Checks `header` (the bytes through the MAC line's newline, nothing after): the v1
 * version line, one or more stanzas (arguments of 0x21–0x7E, body lines of at most 64
 * columns in canonical base64, ended by a shorter line), then `--- ` and a 32-byte MAC.
 * Returns the stanzas' argument lists (type first); throws refuse(message) otherwise.
 */
export function checkAgeHeader(header, refuse) {
  const lines = latin1.decode(header).split("\n");
  if (lines.pop() !== "" || lines[0] !== VERSION_LINE) throw refuse("not an age v1 header");
  const stanzas = [];
  let i = 1;
  while (i < lines.length && !lines[i].startsWith("---")) {
    if (stanzas.length >= MAX_STANZAS) throw refuse("too many stanzas");
    const [args, next] = readStanza(lines, i, refuse);
    stanzas.push(args);
    i = next;
  }
  if (i !== lines.length - 1 || !stanzas.length) throw refuse("not an age header");
  if (!lines[i].startsWith("--- ") || decodeBase64(lines[i].slice(4), refuse).length !== 32) {
    throw refuse("malformed MAC line");
  }
  return stanzas;
}

/**
 * True when an age payload (nonce excluded) of `length` bytes can exist: whole chunks of
 * 65,552 bytes and a final one of more than 16 (exactly 16 only for an empty file).
 */
export function possiblePayloadLength(length) {
  if (length < TAG_SIZE) return false;
  const full = Math.floor(length / ENC_CHUNK_SIZE);
  const rest = length % ENC_CHUNK_SIZE;
  return rest === 0 || rest > TAG_SIZE || (rest === TAG_SIZE && full === 0);
}

/**
 * The stanzas of a whole age file (bytes), checked as agecrypt.inspect does: the header
 * (ending at the first line that starts with `---`), the 16-byte nonce and a payload
 * length an age file can have. Throws refuse(message) for anything else.
 */
export function ageFileStanzas(file, refuse) {
  const text = latin1.decode(file.subarray(0, MAX_HEADER_BYTES));
  const mac = text.indexOf("\n---") + 1;
  const end = mac > 0 ? text.indexOf("\n", mac) : -1;
  if (end < 0) throw refuse("the age header does not end");
  const stanzas = checkAgeHeader(file.subarray(0, end + 1), refuse);
  if (file.length < end + 1 + NONCE_SIZE) throw refuse("the file ends before the nonce");
  if (!possiblePayloadLength(file.length - end - 1 - NONCE_SIZE)) {
    throw refuse("no whole age file has this length");
  }
  return stanzas;
}

/**
 * An age Decrypter holding `identities` (identity strings or age Identity objects);
 * UsageError for one the age library does not take.
 */
export function withIdentities(identities) {
  const decrypter = new Decrypter();
  for (const identity of identities) {
    try {
      decrypter.addIdentity(identity);
    } catch (error) {
      throw new UsageError("not an age identity", { cause: error });
    }
  }
  return decrypter;
}
