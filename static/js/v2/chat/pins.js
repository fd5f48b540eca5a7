// The user's pins of contacts' keys, kept in the pin blob at /api/v1/me/pins (DESIGN.md §3,
// docs/protocol.md §17): encrypted to and signed by its owner, written by compare-and-swap
// on its version (a lost race merges with the stored blob and writes again). A pin is the
// fingerprints of one key generation per contact: {generation, recipientHash, ed25519Hash,
// verified}. The engine pins what the directory shows on first sight and refuses a
// directory answer that differs from a pin for the same generation.
import { logFailure } from "../../common/log.js";
import { fingerprintsOf, mergePins, openPinBlob, sameFingerprints, sealPinBlob }
  from "../../crypto/index.js";
import { ApiFailure, b64, unb64 } from "./api.js";

const PATH = "/api/v1/me/pins";

export class PinStore {
  #writing = Promise.resolve();

  /** `owner` is the owner's keys {userId, generation, recipient, ed25519}. */
  constructor(api, owner, seed, identities, keyLookup) {
    Object.assign(this, { api, owner, seed, identities, keyLookup });
    this.version = 0n;
    this.statementHash = null;
    this.contacts = new Map(); // BigInt user id → pin
  }

  async #open(blob) {
    return openPinBlob(unb64(blob), this.identities, { ownerId: this.owner.userId,
      keyLookup: this.keyLookup, lastSeenVersion: this.version,
      lastSeenHash: this.statementHash });
  }

  /** Loads the stored blob (none yet: empty pins). Throws a CryptoError for a bad blob. */
  async load() {
    const answer = await this.api.get(PATH);
    if (!answer.blob) return;
    const opened = await this.#open(answer.blob);
    this.version = opened.version;
    this.statementHash = opened.statementHash;
    this.contacts = opened.contacts;
  }

  /**
   * "new" (pinned now), "same", "newer" (a later generation than the pin: pinned now, the
   * caller tells the user) or "changed" (other keys for the pinned generation: refused).
   */
  check(keys) {
    const pin = this.contacts.get(keys.userId);
    const prints = fingerprintsOf(keys);
    if (pin && pin.generation === keys.generation) {
      return sameFingerprints(pin, prints) ? "same" : "changed";
    }
    if (pin && pin.generation > keys.generation) return "same"; // an older generation
    this.contacts.set(keys.userId, { generation: keys.generation, ...prints, verified: false });
    // In the background: a failed write is logged by #save (its queue's catch, which
    // also handles the returned promise) and the next write carries the pin.
    this.#save();
    return pin ? "newer" : "new";
  }

  /**
   * True when `keys` are the pinned keys of their user and the pin is marked verified (a
   * newer generation is pinned unverified by check(), so any key change loses the mark).
   */
  isVerified(keys) {
    const pin = this.contacts.get(keys.userId);
    return Boolean(pin?.verified && pin.generation === keys.generation
      && sameFingerprints(pin, fingerprintsOf(keys)));
  }

  /**
   * Marks the pinned `keys` verified (after the user compared their safety number or
   * scanned its QR code) and resolves once the blob is stored; an Error, and no mark, when
   * `keys` are not the pinned ones (they changed meanwhile).
   */
  markVerified(keys) {
    const pin = this.contacts.get(keys.userId);
    if (!pin || pin.generation !== keys.generation || !sameFingerprints(pin, fingerprintsOf(keys))) {
      throw new Error("these are not the keys pinned for this contact: compare again");
    }
    if (pin.verified) return this.flushed();
    this.contacts.set(keys.userId, { ...pin, verified: true });
    return this.#save();
  }

  /** Queues a write of the pins; resolves (or rejects) with this write (failures logged). */
  #save() {
    const write = this.#writing.then(() => this.#write());
    this.#writing = write.catch((error) => logFailure("v2 chat", "the pins were not saved", error));
    return write;
  }

  async #write(attempt = 0) {
    const version = this.version + 1n;
    const blob = await sealPinBlob(this.seed, this.owner, { ownerId: this.owner.userId,
      version, contacts: this.contacts });
    try {
      await this.api.put(PATH, { version: Number(version), blob: b64(blob) });
      this.version = version;
      this.statementHash = null; // our own write: only its version is known here
    } catch (error) {
      if (!(error instanceof ApiFailure) || error.code !== "version_conflict" || attempt > 2) {
        throw error;
      }
      const remote = await this.#open(error.body.blob);
      const { merged } = mergePins({ ownerId: this.owner.userId, version: this.version,
        contacts: this.contacts }, remote);
      this.contacts = merged.contacts;
      this.version = remote.version;
      await this.#write(attempt + 1);
    }
  }

  /** Resolves when every write queued so far has finished. */
  flushed() {
    return this.#writing;
  }
}
