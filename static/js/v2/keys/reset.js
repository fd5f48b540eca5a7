// The forgotten-password pages (no login): the reset request (an address -> the emailed
// link), the emailed link's page (/password-reset/<uid>/<token>/) resetting with the
// recovery code (keys and history kept, a NEW recovery code shown as at signup) or
// without it (held: new keys after the hold, history unreadable), and the page of the
// held reset's emailed cancel link (/password-reset/cancel/<token>).
import { passwordProblems } from "../accounts/passwordrules.js";
import { showRecoveryCode } from "../accounts/recoveryview.js";

import { codePrompt, describe, el, errorBox, field, progressBar } from "./dom.js";
import { cancelWithLink, holdReset, resetMaterial, resetWithRecoveryCode } from "./flows.js";
import { dateTime, KEYS as K, RESET as R } from "../strings.js";

const LINK_PATH = /\/password-reset\/([A-Za-z0-9_-]{1,40})\/([A-Za-z0-9_-]{1,100})\/?$/;
const CANCEL_PATH = /\/password-reset\/cancel\/([A-Za-z0-9_-]{20,100})\/?$/;

/** {uid, token} of a reset link's path, or null. */
export function parseResetPath(pathname) {
  const match = LINK_PATH.exec(pathname);
  return match ? { uid: match[1], token: match[2] } : null;
}

const LINK_KEY = "securechat/v2/reset-link";
const SET_PASSWORD = "set-password";

/**
 * The reset link this tab was opened with. The token leaves the address bar (history,
 * Referer, a shoulder) before any request: the page moves to …/<uid>/set-password/ and
 * keeps {uid, token} in this tab's sessionStorage, so a reload still works. Null when
 * the path is no reset link or the tab lost it.
 */
export function takeResetLink(pathname) {
  const parsed = parseResetPath(pathname);
  if (parsed === null) return null;
  if (parsed.token !== SET_PASSWORD) {
    sessionStorage.setItem(LINK_KEY, JSON.stringify(parsed));
    history.replaceState(null, "", `/password-reset/${parsed.uid}/${SET_PASSWORD}/`);
    return parsed;
  }
  try {
    const stored = JSON.parse(sessionStorage.getItem(LINK_KEY) ?? "null");
    return stored?.uid === parsed.uid && typeof stored.token === "string" ? stored : null;
  } catch {
    return null; // unreadable storage: as if no link were kept (the address bar's is used)
  }
}

/** Forgets the reset link kept by takeResetLink (spent, or the page is left). */
export function forgetResetLink() {
  sessionStorage.removeItem(LINK_KEY);
}

/** The token of a cancel link's path, or null. */
export function parseCancelPath(pathname) {
  return CANCEL_PATH.exec(pathname)?.[1] ?? null;
}

function card(id, title, ...children) {
  return el("section", { class: "card", id, "aria-labelledby": `${id}-title` },
    el("h1", { id: `${id}-title`, tabindex: "-1" }, title), ...children);
}

function loginLink(ctx) {
  return el("p", {}, el("a", { href: ctx.loginUrl ?? "/", id: "v2-reset-login" }, R.logIn));
}

/** The reset request: an address; the same answer whether or not it has an account. */
export function showResetRequest(root, ctx) {
  const email = field("v2-reset-request-email", R.emailAddress,
    { type: "email", autocomplete: "email" });
  const errors = errorBox("v2-reset-request-errors");
  const done = el("p", { id: "v2-reset-request-done", role: "status", hidden: true });
  const form = el("form", { id: "v2-reset-request-form", novalidate: true }, errors.box,
    email.row, el("button", { type: "submit" }, R.sendLink));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const address = email.input.value.trim();
    errors.show(/^[^@\s]+@[^@\s]+$/.test(address) ? [] : [R.validEmail]);
    if (!errors.box.hidden) return;
    ctx.api.post("/api/v1/auth/password-reset", { email: address }).then((answer) => {
      done.textContent = answer?.detail ?? R.linkOnItsWay;
      done.hidden = false;
      form.hidden = true;
    }, (error) => errors.show([describe(error)]));
  });
  root.replaceChildren(card("v2-reset-request", R.forgotHeading,
    el("p", {}, R.forgotIntro), form, done, loginLink(ctx)));
  return { stop: () => root.replaceChildren() };
}

function resetForm(ctx, material) {
  const withCode = el("input", { type: "radio", name: "v2-reset-mode", id: "v2-reset-with-code",
    value: "code", checked: true });
  const without = el("input", { type: "radio", name: "v2-reset-mode", id: "v2-reset-without-code",
    value: "hold" });
  const code = field("v2-reset-code", R.recoveryCode, { type: "text", autocomplete: "off" });
  const warning = el("p", { class: "form-error", id: "v2-reset-warning", hidden: true },
    R.withoutWarning);
  const next = field("v2-reset-password", K.newPassword, { autocomplete: "new-password",
    help: K.newPasswordHelp(ctx.config.minPasswordLength) });
  const again = field("v2-reset-again", K.newPasswordAgain, { autocomplete: "new-password" });
  const errors = errorBox("v2-reset-errors");
  const form = el("form", { id: "v2-reset-form", novalidate: true }, errors.box,
    el("fieldset", {}, el("legend", {}, R.yourRecoveryCode),
      el("p", {}, el("label", {}, withCode, R.haveCode)),
      el("p", {}, el("label", {}, without, R.noCode))),
    code.row, warning, next.row, again.row, el("button", { type: "submit" }, R.resetPassword));
  const sync = () => {
    code.row.hidden = without.checked;
    warning.hidden = !without.checked;
  };
  withCode.addEventListener("change", sync);
  without.addEventListener("change", sync);
  const problems = () => [
    ...(without.checked || code.input.value.trim() ? [] : [R.enterRecoveryCode]),
    ...passwordProblems(next.input.value, material.email, {
      minLength: ctx.config.minPasswordLength, maxLength: ctx.config.maxPasswordLength,
      commonPasswords: ctx.commonPasswords }),
    ...(next.input.value === again.input.value ? [] : [R.passwordsDiffer]),
  ];
  const values = () => ({ hold: without.checked, recoveryCode: code.input.value,
    newPassword: next.input.value });
  const clear = () => { for (const f of [code, next, again]) f.input.value = ""; };
  return { form, errors, problems, values, clear };
}

async function submitReset(ctx, link, material, view, shown) {
  const { hold, recoveryCode, newPassword } = view.values();
  const common = { link, material, newPassword, workerScript: ctx.workerScript,
    onProgress: (f) => shown.progress.update(K.titles.new, f),
    askCode: (failure) => shown.prompt.ask(failure) };
  const result = hold ? await holdReset(ctx.api, common)
    : await resetWithRecoveryCode(ctx.api, { ...common, recoveryCode });
  view.clear();
  forgetResetLink();
  shown.progress.done("");
  await showRecoveryCode(ctx.store, result.recoveryCode, result.email);
  const message = hold
    ? R.heldRequested(dateTime(result.publishAt))
    : R.resetDone;
  ctx.done(message);
}

/** The emailed link's page: reset with the recovery code, or held without it. */
export function showResetLink(root, ctx, link) {
  const intro = el("p", { id: "v2-reset-intro" }, R.opening);
  const progress = progressBar("v2-reset-progress");
  const prompt = codePrompt("v2-reset-otp");
  const section = card("v2-reset", R.resetHeading, intro, ...progress.nodes, prompt.form);
  root.replaceChildren(section);
  const material = link === null
    ? Promise.reject(new Error(R.lostLink))
    : resetMaterial(ctx.api, link);
  material.then((material) => {
    intro.textContent = R.chooseFor(material.email);
    const view = resetForm(ctx, material);
    section.append(view.form, loginLink(ctx));
    let busy = false;
    view.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const problems = view.problems();
      view.errors.show(problems);
      if (problems.length || busy) return;
      busy = true;
      submitReset(ctx, link, material, view, { progress, prompt }).catch((error) => {
        progress.done("");
        view.errors.show([describe(error)]);
      }).finally(() => {
        prompt.cancel();
        busy = false;
      });
    });
  }, (error) => {
    intro.textContent = link === null ? error.message : describe(error);
    intro.className = "form-error";
    section.append(el("p", {}, el("a", { href: "/password-reset/" }, R.askNewLink)));
  });
  return { stop: () => root.replaceChildren() };
}

/** The held reset's emailed cancel link: one button, no login. */
export function showCancelHold(root, ctx, { token }) {
  const errors = errorBox("v2-reset-cancel-errors");
  const done = el("p", { id: "v2-reset-cancel-done", role: "status", hidden: true });
  const button = el("button", { type: "button", id: "v2-reset-cancel-button" }, K.cancelReset);
  button.addEventListener("click", () => {
    cancelWithLink(ctx.api, token).then(() => {
      done.textContent = K.cancelled;
      done.hidden = false;
      button.hidden = true;
      errors.show([]);
    }, (error) => errors.show([describe(error)]));
  });
  root.replaceChildren(card("v2-reset-cancel", R.cancelHeading,
    el("p", {}, R.cancelIntro),
    errors.box, button, done, loginLink(ctx)));
  return { stop: () => root.replaceChildren() };
}
