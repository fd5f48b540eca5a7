// This installation's device for version 2 messages (DESIGN.md §3): a random 16-byte
// device id per user and browser profile, and per conversation the device counter and
// the hash of this device's previous message, kept in localStorage so a reload goes on
// counting. A counter is taken (and saved) before its message is sealed: a message that
// never reaches the server shows to others as missing, never as a reused counter.
import { logFailure } from "../../common/log.js";
import { fromHex, randomBytes, toHex } from "../../crypto/index.js";

export class DeviceState {
  #key;
  #storage;
  #state;

  constructor(userId, storage = globalThis.localStorage) {
    this.#key = `securechat.v2.device.${userId}`;
    this.#storage = storage;
    this.#state = this.#load();
  }

  #load() {
    try {
      const state = JSON.parse(this.#storage.getItem(this.#key) ?? "null");
      if (state && /^[0-9a-f]{32}$/.test(state.deviceId) && typeof state.conversations === "object") {
        return state;
      }
    } catch (error) {
      logFailure("v2 chat", "unreadable device state, starting a new device", error);
    }
    return { deviceId: toHex(randomBytes(16)), conversations: {} };
  }

  #save() {
    this.#storage.setItem(this.#key, JSON.stringify(this.#state));
  }

  get deviceId() {
    return fromHex(this.#state.deviceId);
  }

  /** {counter: BigInt, prevHash: bytes | null} for the next message in `conversationId`. */
  take(conversationId) {
    this.#state = this.#load(); // another tab of this profile may have counted meanwhile
    const entry = this.#state.conversations[conversationId] ?? { counter: 0, prev: null };
    entry.counter += 1;
    this.#state.conversations[conversationId] = entry;
    this.#save();
    return { counter: BigInt(entry.counter), prevHash: entry.prev ? fromHex(entry.prev) : null };
  }

  /**
   * {counter, prevHash} for sealing again a message the server refused without storing it
   * (a stale epoch): its own `counter` and `prevHash` when nothing was sealed after it on
   * this device, so the others see no gap; else the next ones (take).
   */
  again(conversationId, counter, prevHash) {
    this.#state = this.#load();
    const entry = this.#state.conversations[conversationId];
    if (entry && BigInt(entry.counter) === counter) return { counter, prevHash };
    return this.take(conversationId);
  }

  /** Remembers the hash of the message just sealed (the next one's previous hash). */
  sealed(conversationId, messageHash) {
    this.#state = this.#load();
    this.#state.conversations[conversationId].prev = toHex(messageHash);
    this.#save();
  }
}
