// Resume records of browser uploads, kept across reloads (DESIGN.md §6 "Nonce safety is
// the client's duty", §3 device key): sealed with AES-256-GCM under this login session's
// device key (GET /api/v1/me/device-key, as accounts/devicestore.js seals the identity)
// in IndexedDB, never in the clear, since a record holds the upload's one-time identity.
// Nothing in it names the file: a record is found again by the file's size and the
// SHA-256 of its first 64 KiB (its fingerprint), both inside the seal.
//
// A record is a head {uploadUrl, identity, header, nonce, plaintextLength, fingerprint}
// and its chunk hashes, appended in parts as they are recorded (one part per PATCH: a
// PATCH costs one small write, never a rewrite of the whole record). Each seal's AAD
// names the user, the record and (for a part) its first chunk, so parts cannot move
// between records or places; a record whose parts do not join up, or that no longer
// opens (another session's key), is dropped, and its upload starts over. Writes are
// IndexedDB transactions of durability "strict" (flushed to disk before they complete):
// upload.js awaits save() before the PATCH carrying the recorded chunks leaves.
import { logFailure } from "../../common/log.js";
import { concat, fromHex, randomBytes, toHex, u64be, utf8 } from "../../crypto/bytes.js";
import { CryptoError } from "../../crypto/errors.js";
import { fetchSessionDeviceKey } from "../accounts/devicestore.js";
import { idbRequest as request, idbTransaction } from "../idb.js";

const DATABASE = "securechat-v2-uploads";
const HEADS = "heads"; // {id, iv, sealed}
const PARTS = "parts"; // {id, first, iv, sealed}: hashes of chunks first, first + 1, …
const HASH_BYTES = 32;
const FINGERPRINT_BYTES = 64 * 1024;

function openDatabase() {
  const req = indexedDB.open(DATABASE, 1);
  req.onupgradeneeded = () => {
    req.result.createObjectStore(HEADS, { keyPath: "id" });
    req.result.createObjectStore(PARTS, { keyPath: ["id", "first"] });
  };
  return request(req);
}

/** Runs `work(stores)` in one transaction; resolves once it is durably committed. */
function transaction(db, mode, work) {
  return idbTransaction(db, [HEADS, PARTS], mode, work, "resume_store");
}

/** The name-free fingerprint of a file: hex SHA-256 of its first 64 KiB. */
export async function fingerprintOf(file) {
  const head = await file.slice(0, FINGERPRINT_BYTES).arrayBuffer();
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", head)));
}

export class ResumeStore {
  #db;
  #key;
  #userId;
  #stored = new Map(); // record id → {hashes (how many are stored), uploadUrl}

  constructor(db, deviceKey, userId) {
    this.#db = db;
    this.#key = deviceKey;
    this.#userId = userId;
  }

  /** The store of `userId` under this login session's device key. */
  static async open(userId) {
    return new ResumeStore(await openDatabase(), await fetchSessionDeviceKey(), userId);
  }

  #aad(kind, id, first = 0) {
    return concat(utf8(`securechat/v2/upload-resume/${kind}`), u64be(this.#userId), utf8(id),
      u64be(first));
  }

  async #seal(plain, aad) {
    const iv = randomBytes(12);
    const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad },
      this.#key, plain);
    return { iv, sealed: new Uint8Array(sealed) };
  }

  async #open({ iv, sealed }, aad) {
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad },
      this.#key, sealed));
  }

  /**
   * Stores what `record` (upload.js) has that is not stored yet: its head when new or
   * when its upload URL changed, and its new chunk hashes. Tags the record with `localId`.
   * `name` (the file's name, sealed in the head like the rest) lets the chat say which
   * upload a reload interrupted.
   */
  async save(record, fingerprint, name = "") {
    record.localId ??= toHex(randomBytes(16));
    const id = record.localId;
    const stored = this.#stored.get(id) ?? { hashes: 0, uploadUrl: undefined };
    const head = stored.uploadUrl === record.uploadUrl ? null : await this.#seal(utf8(JSON.stringify({
      uploadUrl: record.uploadUrl, identity: record.identity, header: record.header,
      nonce: record.nonce, plaintextLength: record.plaintextLength, fingerprint, name })),
    this.#aad("head", id));
    const fresh = record.chunkHashes.slice(stored.hashes);
    const part = fresh.length ? await this.#seal(fromHex(fresh.join("")),
      this.#aad("part", id, stored.hashes)) : null;
    if (!head && !part) return;
    await transaction(this.#db, "readwrite", ({ heads, parts }) => {
      if (head) heads.put({ id, ...head });
      if (part) parts.put({ id, first: stored.hashes, ...part });
    });
    this.#stored.set(id, { hashes: record.chunkHashes.length, uploadUrl: record.uploadUrl });
  }

  /** Every record that opens, as upload.js takes them (`resumeFrom`), with `fingerprint`;
   *  the others are deleted. */
  async all() {
    const heads = await transaction(this.#db, "readonly", ({ heads: store }) => request(store.getAll()));
    const records = [];
    for (const head of heads) {
      try {
        records.push(await this.#load(head));
      } catch (error) {
        logFailure("upload resume", "a record that does not open is dropped", error);
        await this.forget(head.id);
      }
    }
    return records;
  }

  async #load(head) {
    const { fingerprint, name = "", ...fields } = JSON.parse(new TextDecoder().decode(
      await this.#open(head, this.#aad("head", head.id))));
    const parts = await transaction(this.#db, "readonly", ({ parts: store }) =>
      request(store.getAll(IDBKeyRange.bound([head.id, 0], [head.id, Infinity]))));
    const chunkHashes = [];
    for (const part of parts) {
      if (part.first !== chunkHashes.length) throw new CryptoError("resume_store", "a gap");
      const hashes = await this.#open(part, this.#aad("part", head.id, part.first));
      for (let at = 0; at < hashes.length; at += HASH_BYTES) {
        chunkHashes.push(toHex(hashes.subarray(at, at + HASH_BYTES)));
      }
    }
    this.#stored.set(head.id, { hashes: chunkHashes.length, uploadUrl: fields.uploadUrl });
    return { ...fields, chunkHashes, localId: head.id, fingerprint, name };
  }

  /** The newest record of a file of `file`'s size and `fingerprint`, or null. */
  async find(file, fingerprint) {
    const matches = (await this.all()).filter((record) =>
      record.plaintextLength === file.size && record.fingerprint === fingerprint);
    return matches.at(-1) ?? null;
  }

  async forget(id) {
    await transaction(this.#db, "readwrite", ({ heads, parts }) => {
      heads.delete(id);
      parts.delete(IDBKeyRange.bound([id, 0], [id, Infinity]));
    });
    this.#stored.delete(id);
  }

  /** Deletes every record (logout: the device key dies with the session). */
  async clear() {
    await transaction(this.#db, "readwrite", ({ heads, parts }) => {
      heads.clear();
      parts.clear();
    });
    this.#stored.clear();
  }
}
