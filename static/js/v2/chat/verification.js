// Contact verification for the version 2 chat (DESIGN.md §3 "Public keys and pinning";
// docs/protocol.md §8): the safety number this user shares with a contact, the QR payload
// carrying both full fingerprints, and the verified mark kept in the pin blob (pins.js).
// No DOM: the panel (verify.js) shows what this computes. Everything is computed from
// this client's own keys and its pinned keys of the contact, never from what a scanned
// code or the server says; a scanned code only confirms (or not) what is computed here.
import { safetyGroups, safetyNumber, SafetyNumberError, verifySafetyQr } from "../../crypto/index.js";

/** Why a scanned code marks nothing: its `reason` is "other-keys" or "not-safety-code". */
export class ScanRefused extends Error {
  constructor(reason, message) {
    super(message);
    this.name = "ScanRefused";
    this.reason = reason;
  }
}

export class Verification {
  /** `engine` is the ChatEngine (started: its own keys and pins are loaded). */
  constructor(engine) {
    this.engine = engine;
  }

  /** The contact's pinned keys in use (its current generation), or null. */
  keysOf(userId) {
    const contact = this.engine.contacts.get(String(userId));
    return contact?.keys.get(String(contact.current)) ?? null;
  }

  /**
   * {name, mine, theirs, number, qr} for the contact `userId`: `mine` and `theirs` are
   * each user's six groups, `number` the twelve groups in user-id order (as `securechat
   * verify` prints them), `qr` the payload of protocol.md §8; null without pinned keys.
   */
  safety(userId) {
    const theirs = this.keysOf(userId);
    const me = this.engine.myKeys;
    if (!theirs || !me || theirs.userId === me.userId) return null;
    const computed = safetyNumber(me, theirs);
    return { name: this.engine.nameOf(userId), number: computed.safetyNumber, qr: computed.qr,
      mine: safetyGroups(computed.fingerprintA), theirs: safetyGroups(computed.fingerprintB) };
  }

  /** True when the contact's keys in use are pinned and marked verified. */
  isVerified(userId) {
    const keys = this.keysOf(userId);
    return Boolean(keys && this.engine.pins?.isVerified(keys));
  }

  /**
   * Marks the contact verified (the user compared the numbers); resolves once the pin blob
   * is stored. Refused (an Error, nothing marked) without pinned keys.
   */
  async markVerified(userId) {
    const keys = this.keysOf(userId);
    if (!keys || !this.engine.pins) throw new Error("no pinned keys for this contact yet");
    const saved = this.engine.pins.markVerified(keys);
    this.#changed();
    await saved;
  }

  /**
   * Checks a scanned QR text against the payload computed here for (me, the contact) and
   * marks the contact verified only on an exact match; otherwise a ScanRefused, and
   * nothing is marked: a code of other keys ("other-keys") or no safety code at all.
   */
  async markScanned(userId, text) {
    const keys = this.keysOf(userId);
    if (!keys) throw new Error("no pinned keys for this contact yet");
    let matches;
    try {
      matches = verifySafetyQr(text, this.engine.myKeys, keys);
    } catch (error) {
      if (!(error instanceof SafetyNumberError)) throw error;
      throw new ScanRefused("not-safety-code", "not a SecureChat safety code");
    }
    if (!matches) {
      throw new ScanRefused("other-keys", "a safety code of other keys than this client's "
        + `and its pinned keys of user ${userId}`);
    }
    await this.markVerified(userId);
  }

  /** The engine's "change" event, so every view shows the new mark at once. */
  #changed() {
    this.engine.dispatchEvent(new CustomEvent("change", { detail: { conversation: null } }));
  }
}
