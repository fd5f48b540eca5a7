// The profile page (/me/): the account's address and keys, its sessions, two-factor
// (enrol, backup codes, remove), the email change and the deletion. The forms are built
// once (what is typed survives re-renders); on the store's "change" only the parts that
// show state are redrawn. Every change asks the step-up: the current password (turned
// into auth_key here, never sent) and a code when two-factor is on.
import { identityToRecipient } from "age-encryption";
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";

import { toHex } from "../../crypto/bytes.js";

import { el, field, showMessage, stepUpFields } from "./dom.js";
import { ProfileStore } from "./store.js";
import { backupCodesPanel, enrolmentPanel } from "./twofactor.js";
import { dateTime, PROFILE as S } from "../strings.js";

function grouped(hex) {
  return hex.match(/.{1,4}/g).join(" ");
}

function section(id, title, ...children) {
  return el("section", { class: "card", id, "aria-labelledby": `${id}-title` },
    el("h2", { id: `${id}-title` }, title), ...children);
}

function messages(id) {
  return { error: el("p", { class: "form-error", id: `${id}-error`, role: "alert", hidden: true }),
    status: el("p", { class: "helptext", id: `${id}-status`, role: "status",
      "aria-live": "polite" }) };
}

async function keyFacts(session) {
  const { identity, recipient, shared } = session;
  const current = recipient ?? await identityToRecipient(identity.generations[0].identity);
  const signing = toHex(sha256(ed25519.getPublicKey(identity.signingSeed)));
  return [[S.keyGeneration, String(identity.signingGeneration), "v2-profile-generation"],
    [S.recipient, current, "v2-profile-recipient"],
    [S.signingKey, grouped(signing), "v2-profile-signing"],
    [S.keysKept, shared ? S.keptInTab : S.keptInBrowser, "v2-profile-storage"]];
}

function accountCard(facts) {
  const list = el("dl", { id: "v2-profile-facts" });
  const render = (me) => {
    const rows = [[S.emailAddress, me.email, "v2-profile-email-address"],
      [S.displayName, me.display_name || S.noDisplayName,
        "v2-profile-display-name-shown"],
      ...(me.pending_email ? [[S.waitingConfirmation, me.pending_email,
        "v2-profile-pending-email"]] : []),
      [S.twoFactor, me.otp_enabled ? S.on : S.off, "v2-profile-otp"],
      ...facts];
    list.replaceChildren(...rows.flatMap(([term, value, id]) => [el("dt", {}, term),
      el("dd", { id, class: id.includes("recipient") || id.includes("signing")
        ? "fingerprint" : null }, value)]));
  };
  return { node: list, render };
}

function nameSection(store) {
  const { error, status } = messages("v2-profile-name");
  const name = field("v2-profile-display-name", S.displayName,
    { type: "text", autocomplete: "name", maxlength: 64 });
  const form = el("form", { id: "v2-profile-name-form", novalidate: true }, name.row,
    el("button", { type: "submit" }, S.save));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    store.setDisplayName(name.input.value.trim());
  });
  let filled = false; // fill once from the server; what the user types then stays
  const render = () => {
    if (!filled && store.me) {
      name.input.value = store.me.display_name ?? "";
      filled = true;
    }
    show(store, "name", error, status);
  };
  return { node: section("v2-profile-name", S.nameHeading,
    el("p", {}, S.nameHelp), error, status, form), render };
}

function sessionsSection(store) {
  const { error, status } = messages("v2-profile-sessions");
  const list = el("ul", { id: "v2-profile-sessions-list", class: "sessions" });
  const others = el("button", { type: "button", id: "v2-profile-revoke-others",
    class: "secondary" }, S.logOutOthers);
  others.addEventListener("click", () => store.revokeOthers());
  const render = () => {
    list.replaceChildren(...store.sessions.map((session) => {
      const revoke = el("button", { type: "button", class: "secondary",
        "aria-label": S.logOutSession(session.device, session.current) },
      S.logOut);
      revoke.addEventListener("click", () => store.revokeSession(session));
      return el("li", { "data-session-id": session.id, "data-current": session.current },
        el("strong", {}, session.device || S.unknownDevice),
        session.current ? S.thisSession : "",
        S.seenFrom(session.ip_address),
        el("time", { datetime: session.last_seen_at }, dateTime(session.last_seen_at)),
        " ", revoke);
    }));
    others.hidden = store.sessions.length < 2;
  };
  return { node: section("v2-profile-sessions", S.sessions, error, status, list, others),
    render: () => { render(); show(store, "sessions", error, status); } };
}

function show(store, name, error, status) {
  showMessage(error, store.messages[name].error);
  status.textContent = store.messages[name].status;
}

function totpSection(store) {
  const { error, status } = messages("v2-profile-totp");
  const step = stepUpFields("v2-profile-totp");
  const start = el("button", { type: "submit", name: "action", value: "start",
    id: "v2-profile-totp-start" }, S.setUpApp);
  const regenerate = el("button", { type: "submit", name: "action", value: "codes",
    id: "v2-profile-totp-regenerate", class: "secondary" }, S.newBackupCodes);
  const remove = el("button", { type: "submit", name: "action", value: "remove",
    id: "v2-profile-totp-remove", class: "secondary" }, S.turnOff);
  const form = el("form", { id: "v2-profile-totp-form", novalidate: true }, ...step.rows,
    el("div", { class: "actions" }, start, regenerate, remove));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const password = step.password.input.value;
    const code = step.code.input.value.trim();
    const action = { start: "startTotp", codes: "regenerateBackupCodes", remove: "removeTotp" };
    store[action[event.submitter?.value ?? "start"]](password, code).then(() => {
      if (!store.messages.totp.error) step.password.input.value = "";
      step.code.input.value = "";
    });
  });
  const panel = el("div", { id: "v2-profile-totp-panel" });
  const verifyFirst = verifyFirstNotice(store);
  const state = el("p", { id: "v2-profile-totp-state", class: "helptext" });
  let shown = null; // the enrolment or codes on screen, redrawn only when they change
  const render = () => {
    const on = Boolean(store.me?.otp_enabled);
    const unverified = store.me?.email_verified === false && !on;
    verifyFirst.node.hidden = !unverified;
    verifyFirst.render();
    state.textContent = on ? S.totpOn : "";
    state.hidden = !on;
    step.code.row.hidden = !on;
    start.hidden = on;
    regenerate.hidden = remove.hidden = !on;
    form.hidden = unverified || Boolean(store.enrolment || store.backupCodes);
    const wanted = store.enrolment ?? store.backupCodes;
    if (wanted !== shown) {
      shown = wanted;
      panel.replaceChildren(...(store.enrolment ? [enrolmentPanel("v2-profile-totp",
        store.enrolment, (code) => store.confirmTotp(code))] : []),
      ...(store.backupCodes ? [backupCodesPanel("v2-profile-totp", store.backupCodes,
        store.email, () => store.backupCodesSaved())] : []));
    }
    show(store, "totp", error, status);
  };
  return { node: section("v2-profile-totp", S.twoFactor, error, status,
    state, verifyFirst.node, form, panel), render };
}

/** Before the address is verified, two-factor waits: say so and offer the link again. */
function verifyFirstNotice(store) {
  const text = el("p", { id: "v2-profile-totp-verify-first" });
  const resend = el("button", { type: "button", id: "v2-profile-totp-resend",
    class: "secondary" }, S.sendLinkAgain);
  resend.addEventListener("click", () => store.resendVerification());
  return { node: el("div", { hidden: true }, text, resend),
    render: () => {
      text.textContent = S.verifyFirst(store.email);
    } };
}

function emailSection(store) {
  const { error, status } = messages("v2-profile-email");
  const email = field("v2-profile-new-email", S.newEmail,
    { type: "email", autocomplete: "email", required: true });
  const step = stepUpFields("v2-profile-email");
  const form = el("form", { id: "v2-profile-email-form", novalidate: true }, email.row,
    ...step.rows, el("button", { type: "submit" }, S.sendConfirmation));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    store.changeEmail(email.input.value.trim(), step.password.input.value,
      step.code.input.value.trim()).then(() => {
      step.password.input.value = "";
      step.code.input.value = "";
    });
  });
  const render = () => {
    step.code.row.hidden = !store.me?.otp_enabled;
    show(store, "email", error, status);
  };
  return { node: section("v2-profile-email", S.emailAddress,
    el("p", {}, S.emailHelp), error, status, form), render };
}

function deleteSection(store) {
  const { error, status } = messages("v2-profile-delete");
  const sure = el("input", { type: "checkbox", id: "v2-profile-delete-sure" });
  const step = stepUpFields("v2-profile-delete");
  const form = el("form", { id: "v2-profile-delete-form", novalidate: true },
    el("p", {}, el("label", {}, sure, S.deleteSure)),
    ...step.rows, el("button", { type: "submit", class: "danger" }, S.deleteMine));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    store.deleteAccount(step.password.input.value, step.code.input.value.trim(), sure.checked);
  });
  const render = () => {
    step.code.row.hidden = !store.me?.otp_enabled;
    show(store, "delete", error, status);
  };
  return { node: section("v2-profile-delete", S.deleteHeading, error, status, form), render };
}

/**
 * Mounts the profile into `root` (router context: {store: the AccountStore, router,
 * workerScript}); resolves to {stop}.
 */
export async function mountProfile(root, { store: account, router, workerScript }) {
  const store = new ProfileStore(account, workerScript);
  const heading = el("h1", { id: "v2-profile-title", tabindex: "-1" }, S.heading);
  const card = accountCard(await keyFacts(account.session));
  const parts = [nameSection(store), sessionsSection(store), totpSection(store),
    emailSection(store), deleteSection(store)];
  root.replaceChildren(el("section", { class: "card", id: "v2-profile",
    "aria-labelledby": "v2-profile-title" }, heading, card.node), ...parts.map((p) => p.node));
  const render = () => {
    if (store.me) card.render(store.me);
    for (const part of parts) part.render();
  };
  store.addEventListener("change", render);
  store.addEventListener("ended", () => router.navigate("/login/", { replace: true }));
  await store.load();
  heading.focus();
  return { stop: () => store.removeEventListener("change", render) };
}
