// The half-login stages of the shell when two-factor is mandatory (docs/api.md login):
// "verify" (the address is not confirmed yet: check your inbox, resend, continue once
// confirmed) and "enrol" (set up the authenticator before the login completes; no
// step-up: the password was just proven). `finish()` completes the login in the shell
// (unlock, or keep the identity made at signup) once the authenticator is confirmed.
import { ApiFailure } from "../accounts/api.js";
import { describeFailure } from "../accounts/views.js";

import { el, showMessage } from "./dom.js";
import { backupCodesPanel, enrolmentPanel } from "./twofactor.js";
import { TWO_FACTOR as TF } from "../strings.js";

function card(id, title, ...children) {
  const heading = el("h1", { id: `${id}-title`, tabindex: "-1" }, title);
  return { heading, node: el("section", { class: "card", id, "aria-labelledby": `${id}-title` },
    heading, ...children) };
}

/** The enrolment stage: starts the authenticator (or shows `started`), then the codes. */
export async function showEnrolStage(root, { api, email, finish, started = null }) {
  const error = el("p", { class: "form-error", id: "v2-enrol-error", role: "alert", hidden: true });
  const body = el("div");
  const view = card("v2-enrol", TF.enrolHeading,
    el("p", {}, TF.enrolRequired),
    error, body);
  root.replaceChildren(view.node);
  let enrolment = started;
  try {
    enrolment ??= await api.post("/api/v1/me/totp", {});
  } catch (failure) {
    showMessage(error, describeFailure(failure));
    return;
  }
  body.replaceChildren(enrolmentPanel("v2-enrol", enrolment, async (code) => {
    const answer = await api.post("/api/v1/me/totp/confirm", { code });
    api.forgetCsrf(); // the completed login has a new session and token
    body.replaceChildren(backupCodesPanel("v2-enrol", answer.backup_codes, email, () => {
      Promise.resolve(finish()).catch((failure) => showMessage(error, describeFailure(failure)));
    }));
  }));
  view.heading.focus();
}

/** The verification stage: the link is in the inbox; resend it, or continue once opened. */
export function showVerifyStage(root, { api, email, finish }) {
  const error = el("p", { class: "form-error", id: "v2-verify-error", role: "alert", hidden: true });
  const status = el("p", { class: "helptext", id: "v2-verify-status", role: "status",
    "aria-live": "polite" });
  const resend = el("button", { type: "button", class: "secondary", id: "v2-verify-resend" },
    TF.sendLinkAgain);
  const next = el("button", { type: "button", id: "v2-verify-continue" },
    TF.openedLink);
  const view = card("v2-verify", TF.inboxHeading,
    el("p", {}, TF.sentLinkTo, el("strong", {}, email), TF.sentLinkAfter),
    error, status, el("div", { class: "actions" }, next, resend));
  resend.addEventListener("click", () => {
    showMessage(error, "");
    api.post("/api/v1/auth/verify-email/resend").then(
      () => { status.textContent = TF.newLinkOnWay; },
      (failure) => showMessage(error, describeFailure(failure)));
  });
  next.addEventListener("click", () => {
    showMessage(error, "");
    // The server moves the login on to enrolment once the address is verified.
    api.post("/api/v1/me/totp", {}).then(
      (started) => showEnrolStage(root, { api, email, finish, started }),
      (failure) => {
        const waiting = failure instanceof ApiFailure
          && failure.code === "email_verification_required";
        showMessage(error, waiting ? TF.notConfirmedYet : describeFailure(failure));
      });
  });
  root.replaceChildren(view.node);
  view.heading.focus();
}
