// The shell's state: which view shows, the unlocked identity (memory only) and the
// session's life. Emits "change" ({view, status, alarm}) and "signed-in" / "signed-out".
// The store owns this state (issue 18): views read it through the getters and change it
// only through the methods here, which emit the events; nothing else writes it.
import { logFailure } from "../../common/log.js";
import { parseIdentityFile } from "../../crypto/identityfile.js";

import {
  fetchDeviceKey, forgetIdentity, openStoredIdentity, storedBlob, storeIdentity,
} from "./devicestore.js";
import { ACCOUNTS as A } from "../strings.js";

export class AccountStore extends EventTarget {
  #view = "loading";
  #status = "";
  #alarm = "";
  #session = null; // {user: {id, email}, identity, recipient, shared} while unlocked
  // Between the auth-key step and the unlock ({params, keys, stage, email, shared}):
  // the derived wrap key waits here for the code step; dropped on success or failure.
  #pendingLogin = null;
  #timer = null;
  // Asked before a logout (the signed-in view's leave(): uploads in progress); false
  // keeps the session.
  #beforeLogout = null;

  constructor(api, config) {
    super();
    this.api = api;
    this.config = config;
    api.onUnauthorized = () => {
      if (this.#session) this.wipe(A.sessionEnded);
    };
  }

  // view: which section the shell shows ("loading", "login", "code", "signup", "progress",
  // "recovery", "stage" or "home": signed in), with its status line and alarm; session:
  // the unlocked identity, or null.
  get view() { return this.#view; }
  get status() { return this.#status; }
  get alarm() { return this.#alarm; }
  get session() { return this.#session; }

  /** The login waiting between the auth-key step and the unlock, or null. */
  get pendingLogin() { return this.#pendingLogin; }

  /** Keeps `pending` (startLogin's answer plus what the unlock needs) until it is taken. */
  holdLogin(pending) {
    this.#pendingLogin = pending;
  }

  /** Drops the waiting login; whether there was one. */
  dropLogin() {
    const held = this.#pendingLogin !== null;
    this.#pendingLogin = null;
    return held;
  }

  /** `guard()` (or null: none) is asked before a logout; false keeps the session. */
  setLogoutGuard(guard) {
    this.#beforeLogout = guard;
  }

  emit(type, detail = undefined) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  show(view, { status = "", alarm = this.#alarm } = {}) {
    this.#view = view;
    this.#status = status;
    this.#alarm = alarm;
    this.emit("change");
  }

  raiseAlarm(text) {
    this.#alarm = text;
    this.emit("change");
  }

  /**
   * On page load: a complete login whose identity is stored here under its device key
   * opens again without the password; anything else shows the login view.
   */
  async restore() {
    let me;
    try {
      me = await this.api.get("/api/v1/me");
    } catch (failure) {
      // 401: nobody logged in; 403: a half-finished login whose derived keys died with
      // the previous page: end it, the user starts again.
      if (failure.status === 403) await this.api.post("/api/v1/auth/logout").catch(
        (error) => logFailure("restore", "the half-finished login was not ended", error));
      this.show("login");
      return;
    }
    const blob = storedBlob();
    if (blob === null || blob.userId !== me.id) {
      if (blob !== null) forgetIdentity(); // another account's: useless under this session
      this.show("login", { status: A.unlockInTab });
      return;
    }
    try {
      const deviceKey = await fetchDeviceKey(this.api);
      const text = await openStoredIdentity(deviceKey, blob, me.id);
      await this.signedIn({ id: me.id, email: me.email },
        { identity: parseIdentityFile(text), identityText: text }, false);
    } catch (error) {
      logFailure("restore", "the stored identity did not open", error);
      forgetIdentity();
      this.show("login", { status: A.unlock });
    }
  }

  /**
   * The identity is unlocked for `user` ({identity, identityText, recipient?}): keep it in
   * memory, store it under the device key unless `shared`, start the re-check, and emit
   * "signed-in".
   */
  async signedIn(user, { identity, identityText, recipient = null }, shared) {
    if (shared) {
      forgetIdentity();
    } else {
      await storeIdentity(await fetchDeviceKey(this.api), user.id, identityText);
    }
    this.#session = { user, identity, recipient, shared };
    this.startRecheck();
    this.show("home");
    this.emit("signed-in", this.#session);
  }

  /**
   * A key change made here (password, rotation): the identity now in force replaces the
   * old one in memory and in the device blob; with `remount` the signed-in view starts
   * again on it (the chat then uses the new generation). `status` is announced.
   */
  async replaceIdentity(identity, identityText, { status = "", remount = true } = {}) {
    const { user, shared } = this.#session;
    if (!shared) await storeIdentity(await fetchDeviceKey(this.api), user.id, identityText);
    if (!remount) {
      this.#session = { ...this.#session, identity };
      this.show("home", { status });
      return;
    }
    this.emit("signed-out");
    this.#session = { user, identity, recipient: null, shared };
    this.show("home", { status });
    this.emit("signed-in", this.#session);
  }

  /** The mount contract's keys (static/js/v2/mount.js). */
  mountKeys() {
    const { user, identity, recipient, shared } = this.#session;
    // Beyond the contract: `recipient` (the current public age recipient, when known) and
    // `shared`, for the plain signed-in view.
    return { user: { ...user }, generation: identity.signingGeneration,
      ageIdentities: identity.generations.map((g) => g.identity),
      signingSeed: identity.signingSeed, recipient, shared, onLogout: () => this.logout() };
  }

  startRecheck() {
    clearInterval(this.#timer);
    this.#timer = setInterval(() => {
      // A 401 reaches api.onUnauthorized, which wipes; other failures are transient.
      this.api.get("/api/v1/me", { background: true }).catch((failure) => {
        if (failure.status !== 401) logFailure("re-check", "/api/v1/me failed", failure);
      });
    }, this.config.recheckSeconds * 1000);
  }

  /** Ends the session here and on the server, and deletes the stored identity; nothing
   *  when the logout guard says no. */
  async logout() {
    if (this.#beforeLogout && !(await this.#beforeLogout())) return;
    forgetIdentity();
    try {
      await this.api.post("/api/v1/auth/logout");
    } catch (failure) {
      logFailure("logout", "the server did not end the session", failure);
    }
    this.api.forgetCsrf();
    this.wipe(A.loggedOut);
  }

  /** Forgets the identity (memory and storage) and returns to the login view. */
  wipe(status) {
    clearInterval(this.#timer);
    this.#timer = null;
    forgetIdentity();
    const ended = this.#session;
    this.#session = null;
    if (ended) {
      this.emit("signed-out");
      ended.identity.signingSeed.fill(0); // the age identity strings cannot be zeroed
    }
    this.show("login", { status, alarm: "" });
  }
}

