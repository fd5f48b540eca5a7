// The profile's state (/me/): the account as GET /api/v1/me answers it, the login
// sessions, a pending authenticator enrolment, backup codes waiting to be shown once,
// and per-section messages. Like accounts/store.js, the store owns the state (issue 18):
// the view reads it on "change" (through the getters) and calls the methods here, which
// emit "change"; nothing else writes it.
import { logFailure } from "../../common/log.js";
import { ApiFailure } from "../accounts/api.js";
import { forgetParameters } from "../accounts/known.js";
import { describeFailure } from "../accounts/views.js";

import { emailChangeBody, stepUpBody } from "./stepup.js";
import { PROFILE_STATUS as T } from "../strings.js";

export const SECTIONS = ["name", "sessions", "totp", "email", "delete"];

export class ProfileStore extends EventTarget {
  #me = null; // {email, pending_email, otp_enabled, email_verified, key_generation, …}
  #sessions = [];
  #enrolment = null; // {secret, otpauth_uri, qr_svg} until confirmed
  #backupCodes = null; // shown once, dropped when the user is done
  #busy = null; // the section whose request runs
  #messages = Object.fromEntries(SECTIONS.map((name) => [name, { error: "", status: "" }]));
  #ended = false;

  /** `account`: the shell's AccountStore (signed in); `workerScript`: the derive Worker. */
  constructor(account, workerScript) {
    super();
    this.account = account;
    this.api = account.api;
    this.workerScript = workerScript;
  }

  get me() { return this.#me; }

  get sessions() { return this.#sessions; }

  get enrolment() { return this.#enrolment; }

  get backupCodes() { return this.#backupCodes; }

  /** Per section: {error, status}, the last request's outcome. */
  get messages() { return this.#messages; }

  emit() {
    this.dispatchEvent(new CustomEvent("change"));
  }

  /** The current address (the server's: a confirmed email change moves it). */
  get email() {
    return this.#me?.email ?? this.account.session.user.email;
  }

  async load() {
    const [me, sessions] = await Promise.all([this.api.get("/api/v1/me"),
      this.api.get("/api/v1/me/sessions")]);
    this.#me = me;
    this.#sessions = sessions;
    this.emit();
  }

  /**
   * Runs `work` for `section` (one request at a time), then shows `done` (a string or a
   * function of work's result) or the failure in the section.
   */
  async run(section, work, done) {
    if (this.#busy) return;
    this.#busy = section;
    this.#messages[section] = { error: "", status: T.working };
    this.emit();
    try {
      const result = await work();
      this.#messages[section] = { error: "",
        status: typeof done === "function" ? done(result) : done };
      if (!this.#ended) await this.load().catch(
        (error) => logFailure("profile", "not reloaded after a change", error));
    } catch (error) {
      this.#messages[section] = { error: describeFailure(error), status: "" };
    } finally {
      this.#busy = null;
      this.emit();
    }
  }

  stepUp(password, code) {
    if (!password) throw new ApiFailure(400, "invalid", T.enterPassword);
    return stepUpBody(this.api, this.workerScript, this.email, password, code);
  }

  // --- display name --------------------------------------------------------------------

  /** Sets the name contacts see (no step-up: it is plain metadata); "" clears it. */
  setDisplayName(name) {
    return this.run("name", () => this.api.call("PUT", "/api/v1/me/display-name",
      { display_name: name }), (answer) => (answer.display_name
      ? T.nameSet(answer.display_name) : T.nameCleared));
  }

  // --- sessions ------------------------------------------------------------------------

  revokeSession(session) {
    return this.run("sessions", async () => {
      await this.api.call("DELETE", `/api/v1/me/sessions/${session.id}`);
      if (session.current) this.end(T.thisSessionEnded);
    }, T.sessionEnded);
  }

  revokeOthers() {
    return this.run("sessions", () => this.api.post("/api/v1/me/sessions/revoke-others"),
      (answer) => T.othersEnded(answer.ended));
  }

  // --- two-factor ----------------------------------------------------------------------

  /** Sends the address's verification link again (two-factor waits for it). */
  resendVerification() {
    return this.run("totp", () => this.api.post("/api/v1/auth/verify-email/resend"),
      T.newLink(this.email));
  }

  startTotp(password, code) {
    return this.run("totp", async () => {
      const body = await this.stepUp(password, code);
      this.#enrolment = await this.api.post("/api/v1/me/totp", body);
    }, T.scanTheCode);
  }

  /** Rejects with the failure (the enrolment panel shows it). */
  async confirmTotp(code) {
    const answer = await this.api.post("/api/v1/me/totp/confirm", { code });
    this.#enrolment = null;
    this.#backupCodes = answer.backup_codes;
    this.#messages.totp = { error: "", status: T.totpOn };
    await this.load();
  }

  cancelTotp() {
    this.#enrolment = null;
    this.#messages.totp = { error: "", status: "" };
    this.emit();
  }

  removeTotp(password, code) {
    return this.run("totp", async () => {
      await this.api.call("DELETE", "/api/v1/me/totp", await this.stepUp(password, code));
      this.#backupCodes = null;
    }, T.totpOff);
  }

  regenerateBackupCodes(password, code) {
    return this.run("totp", async () => {
      const answer = await this.api.post("/api/v1/me/backup-codes",
        await this.stepUp(password, code));
      this.#backupCodes = answer.backup_codes;
    }, T.codesMade);
  }

  backupCodesSaved() {
    this.#backupCodes = null;
    this.emit();
  }

  // --- email and deletion --------------------------------------------------------------

  changeEmail(newEmail, password, code) {
    return this.run("email", async () => {
      if (!newEmail) throw new ApiFailure(400, "invalid", T.enterNewEmail);
      if (!password) throw new ApiFailure(400, "invalid", T.enterPassword);
      const body = await emailChangeBody(this.api, this.workerScript, { email: this.email,
        newEmail, password, code, identity: this.account.session.identity });
      return this.api.post("/api/v1/me/email", body);
    }, (answer) => T.linkSent(answer.pending_email));
  }

  deleteAccount(password, code, sure) {
    return this.run("delete", async () => {
      if (!sure) throw new ApiFailure(400, "invalid", T.tickToDelete);
      const email = this.email;
      await this.api.post("/api/v1/me/delete", await this.stepUp(password, code));
      forgetParameters(email);
      this.end(T.deleted);
    }, "");
  }

  /** The session is over (deleted or revoked here): wipe and go to the login. */
  end(status) {
    this.#ended = true;
    this.account.wipe(status);
    this.dispatchEvent(new CustomEvent("ended"));
  }
}
