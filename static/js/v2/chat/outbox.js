// The outbox (issue 15 "Attention"; docs/protocol.md "Outbox"): every text message the
// user sends is recorded here before it goes to the socket, and deleted once the server
// acknowledged it, so messages waiting to send survive a reload or a closed tab and go
// out once, in order, when the connection is back.
//
// A record is {conversation, clientId (hex), text, time, frame, tab}: `frame` is the sealed
// send2 frame (box, statement, signature) once the message was sealed, null before (a
// message typed offline is sealed only when it can leave, under the epoch current then).
// A sealed frame is always sent again as is: the server stores one row per (conversation,
// sender, client message id), so a send whose ack was lost is stored once.
//
// Each record is sealed with AES-256-GCM under this login session's device key (as
// accounts/devicestore.js seals the identity and files/resumestore.js the upload
// records), AAD "securechat/v2/outbox" ‖ u64be(user id) ‖ client message id, in
// IndexedDB; nothing in the clear but the client message id (which the server sees
// anyway) and the insertion order. A record that does not open (another session's key,
// another user) is dropped. Logout deletes every record (clear()).
//
// Tabs: each record names the tab that sends it, and each tab holds a Web Lock named
// after itself for its life. A starting tab takes over (takeOver()) only the records of
// tabs that are gone, under one lock per user, so two open tabs never send one message
// (each would seal it under its own device counter, and one would be refused).
import { logFailure } from "../../common/log.js";
import { concat, fromHex, randomBytes, toHex, u64be, utf8 } from "../../crypto/bytes.js";
import { fetchSessionDeviceKey } from "../accounts/devicestore.js";
import { idbRequest, idbTransaction } from "../idb.js";

export const OUTBOX_DATABASE = "securechat-v2-outbox";
const RECORDS = "records"; // {order (auto), client (hex), iv, sealed}
const BY_CLIENT = "client";

function openDatabase() {
  const req = indexedDB.open(OUTBOX_DATABASE, 1);
  req.onupgradeneeded = () => {
    const store = req.result.createObjectStore(RECORDS, { keyPath: "order", autoIncrement: true });
    store.createIndex(BY_CLIENT, BY_CLIENT, { unique: true });
  };
  return idbRequest(req);
}

export class Outbox {
  #db;
  #key;
  #userId;
  #closed = false; // after clear(): a late write of a send under way stores nothing
  #tab = toHex(randomBytes(8)); // this page's name in its records and its lock

  constructor(db, deviceKey, userId) {
    this.#db = db;
    this.#key = deviceKey;
    this.#userId = userId;
  }

  /** The outbox of `userId` under this login session's device key. */
  static async open(userId) {
    const outbox = new Outbox(await openDatabase(), await fetchSessionDeviceKey(), userId);
    await outbox.#holdTab();
    return outbox;
  }

  /** Resolves once this tab holds its own lock, kept until the page goes. */
  #holdTab() {
    if (!navigator.locks) return Promise.resolve();
    return new Promise((granted) => {
      navigator.locks.request(tabLock(this.#tab), () => {
        granted();
        return new Promise(() => {}); // released when the page goes
      }).catch((error) => logFailure("v2 outbox", "no tab lock", error));
    });
  }

  /**
   * The records no open tab sends (theirs was closed or reloaded), oldest first, now this
   * tab's; the others stay with their tab.
   */
  takeOver() {
    const take = async () => {
      const held = new Set(navigator.locks
        ? (await navigator.locks.query()).held.map((lock) => lock.name) : []);
      const orphans = (await this.load()).filter((record) => record.tab === this.#tab
        || !held.has(tabLock(record.tab)));
      for (const record of orphans) await this.put(record); // named after this tab now
      return orphans;
    };
    return navigator.locks
      ? navigator.locks.request(`securechat-v2-outbox-restore-${this.#userId}`, take) : take();
  }

  #aad(clientId) {
    return concat(utf8("securechat/v2/outbox"), u64be(this.#userId), fromHex(clientId));
  }

  #run(mode, work) {
    return idbTransaction(this.#db, [RECORDS], mode, ({ [RECORDS]: store }) => work(store),
      "outbox");
  }

  /** Stores `record` (a new one last; a known client id keeps its place), durably. */
  async put(record) {
    if (this.#closed) return;
    const iv = randomBytes(12);
    const plain = utf8(JSON.stringify({ conversation: record.conversation,
      clientId: record.clientId, text: record.text, time: record.time,
      frame: record.frame ?? null, tab: this.#tab }));
    const sealed = new Uint8Array(await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: this.#aad(record.clientId) }, this.#key, plain));
    await this.#run("readwrite", async (store) => {
      const order = await idbRequest(store.index(BY_CLIENT).getKey(record.clientId));
      const row = { client: record.clientId, iv, sealed };
      if (order !== undefined) row.order = order;
      store.put(row);
    });
  }

  /** Deletes the record of `clientId` (acknowledged, or failed for good). */
  async remove(clientId) {
    await this.#run("readwrite", async (store) => {
      const order = await idbRequest(store.index(BY_CLIENT).getKey(clientId));
      if (order !== undefined) store.delete(order);
    });
  }

  /** Every record that opens, oldest first; the others are deleted. */
  async load() {
    const rows = await this.#run("readonly", (store) => idbRequest(store.getAll()));
    const records = [];
    for (const row of rows) {
      try {
        const plain = await crypto.subtle.decrypt(
          { name: "AES-GCM", iv: row.iv, additionalData: this.#aad(row.client) }, this.#key,
          row.sealed);
        const record = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
        if (record.clientId !== row.client) throw new Error("a record under another id");
        records.push(record);
      } catch (error) {
        logFailure("v2 outbox", "a record that does not open is dropped", error);
        await this.#run("readwrite", (store) => store.delete(row.order));
      }
    }
    return records;
  }

  /** How many records are stored. */
  count() {
    return this.#run("readonly", (store) => idbRequest(store.count()));
  }

  /** Deletes every record and stores no more (logout: the device key dies with the
   *  session, and what was not sent must not wait here for the next one). */
  async clear() {
    this.#closed = true;
    await this.#run("readwrite", (store) => store.clear());
  }
}

function tabLock(tab) {
  return `securechat-v2-outbox-tab-${tab}`;
}
