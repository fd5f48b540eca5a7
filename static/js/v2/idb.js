// Small IndexedDB helpers shared by the stores kept under the device key
// (files/resumestore.js, chat/outbox.js): a request as a promise, and one transaction
// whose writes are flushed to disk (durability "strict") before it resolves.
import { CryptoError } from "../crypto/errors.js";

/** The result of an IDBRequest (or IDBOpenDBRequest), as a promise. */
export function idbRequest(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * Runs `work(stores)` (stores: {name → IDBObjectStore} of `names`) in one transaction;
 * resolves with work's result once the transaction is durably committed. `what` names the
 * store in the error of an aborted transaction.
 */
export function idbTransaction(db, names, mode, work, what = "store") {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(names, mode, { durability: "strict" });
    let result;
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new CryptoError(what, "transaction aborted"));
    const stores = Object.fromEntries(names.map((name) => [name, tx.objectStore(name)]));
    Promise.resolve(work(stores))
      .then((value) => { result = value; }, (error) => { tx.abort(); reject(error); });
  });
}
