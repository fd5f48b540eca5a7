// The profile's "Password and keys" section (signed-in): change the password (optionally
// rotating the keys in the same request), rotate the keys, export them as an .age file,
// and the banner of a held reset with its signed cancel. Each action steps up with the
// current password (derived in the Worker, progress shown) and, when the account has a
// second factor, a code asked inline when the server wants one.
import { passwordProblems } from "../accounts/passwordrules.js";

import { codePrompt, describe, download, el, errorBox, field, progressBar } from "./dom.js";
import {
  cancelHeldReset, changePassword, exportIdentity, pendingReset, rotateKeys,
} from "./flows.js";

const TITLES = { current: "Checking your current password",
  new: "Protecting your keys with the new password" };

function actionForm(id, title, intro, fields, submit) {
  const errors = errorBox(`${id}-errors`);
  const form = el("form", { id, novalidate: true, "aria-labelledby": `${id}-title` },
    el("h3", { id: `${id}-title` }, title), el("p", {}, intro), errors.box,
    ...fields.map((f) => f.row ?? f), el("button", { type: "submit" }, submit));
  return { form, errors };
}

function passwordForm(ctx, run) {
  const current = field("v2-keys-password-current", "Current password");
  const next = field("v2-keys-password-new", "New password", { autocomplete: "new-password",
    help: `At least ${ctx.config.minPasswordLength} characters, not a common password.` });
  const again = field("v2-keys-password-again", "New password again",
    { autocomplete: "new-password" });
  const rotate = el("input", { type: "checkbox", id: "v2-keys-password-rotate" });
  const { form, errors } = actionForm("v2-keys-password", "Change password",
    "Your keys are re-wrapped here under the new password; your other sessions end.",
    [current, next, again, el("p", {}, el("label", {}, rotate, " Also rotate my keys"))],
    "Change password");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const email = ctx.session().user.email;
    const problems = [
      ...(current.input.value ? [] : ["Enter your current password."]),
      ...passwordProblems(next.input.value, email, { minLength: ctx.config.minPasswordLength,
        maxLength: ctx.config.maxPasswordLength, commonPasswords: ctx.commonPasswords }),
      ...(next.input.value === again.input.value ? [] : ["The two new passwords differ."]),
      ...(next.input.value && next.input.value === current.input.value
        ? ["The new password is the current one."] : []),
    ];
    errors.show(problems);
    if (problems.length) return;
    run(errors, async (common) => {
      const rotated = rotate.checked;
      const changed = await changePassword(ctx.api, { ...common, password: current.input.value,
        newPassword: next.input.value, rotate: rotated, shared: ctx.session().shared });
      for (const input of [current.input, next.input, again.input]) input.value = "";
      rotate.checked = false;
      const status = rotated
        ? `Password changed and keys rotated (key generation ${changed.identity.signingGeneration}); `
          + "your other sessions ended."
        : "Password changed; your other sessions ended.";
      await ctx.replaceIdentity(changed.identity, changed.identityText,
        { status, remount: rotated });
      return status;
    });
  });
  return form;
}

function rotateForm(ctx, run) {
  const current = field("v2-keys-rotate-current", "Current password");
  const { form, errors } = actionForm("v2-keys-rotate", "Rotate keys",
    "A new key generation, signed by the current one (and the other way round). "
    + "Your history stays readable; your other sessions end.", [current], "Rotate keys");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    errors.show(current.input.value ? [] : ["Enter your current password."]);
    if (!current.input.value) return;
    run(errors, async (common) => {
      const rotated = await rotateKeys(ctx.api, { ...common, password: current.input.value });
      current.input.value = "";
      const status = `Keys rotated: key generation ${rotated.identity.signingGeneration}.`;
      await ctx.replaceIdentity(rotated.identity, rotated.identityText, { status, remount: true });
      return status;
    });
  });
  return form;
}

function exportForm(ctx, run) {
  const current = field("v2-keys-export-current", "Current password");
  const { form, errors } = actionForm("v2-keys-export", "Export keys",
    "Downloads your keys as an age file encrypted under your password: `age -d` with "
    + "your password gives an identity file for `age -d -i`. You get a security email.",
    [current], "Export keys");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    errors.show(current.input.value ? [] : ["Enter your current password."]);
    if (!current.input.value) return;
    run(errors, async (common) => {
      const bytes = await exportIdentity(ctx.api, { ...common, password: current.input.value });
      current.input.value = "";
      download(bytes, `securechat-identity-${ctx.session().user.email}.age`);
      return "Your keys were exported (encrypted under your password).";
    });
  });
  return form;
}

/** The held-reset banner: shown while a reset without the recovery code waits. */
function heldBanner(ctx) {
  const text = el("p", { id: "v2-keys-held-text" });
  const errors = errorBox("v2-keys-held-errors");
  const cancel = el("button", { type: "button", id: "v2-keys-held-cancel" }, "Cancel the reset");
  const banner = el("div", { class: "card form-error", id: "v2-keys-held", role: "alert",
    hidden: true }, text, errors.box, cancel);
  let hold = null;
  const refresh = async () => {
    const pending = await pendingReset(ctx.api);
    hold = pending.hold ? { ...pending.hold, userId: pending.userId } : null;
    banner.hidden = hold === null;
    if (hold) {
      text.textContent = "Someone asked to reset your password WITHOUT your recovery code. "
        + `Unless you cancel it, it takes effect at ${new Date(hold.publish_at).toLocaleString()}: `
        + "then your account gets new keys and your history can no longer be read.";
    }
  };
  cancel.addEventListener("click", () => {
    if (!hold) return;
    cancelHeldReset(ctx.api, { identity: ctx.session().identity, userId: hold.userId,
      hold: hold.id }).then(() => {
      banner.hidden = true;
      hold = null;
      ctx.say("The reset is cancelled; your password and keys did not change.");
    }, (error) => errors.show([describe(error)]));
  });
  return { banner, refresh };
}

/**
 * Mounts the section into `container`. ctx = {api, config, commonPasswords, workerScript,
 * session() (the store's {user, identity, shared}), replaceIdentity(identity, text,
 * {status, remount}), say(text)}. Returns {stop()}.
 */
export function mountKeySection(container, ctx) {
  const progress = progressBar("v2-keys-progress");
  const prompt = codePrompt("v2-keys-code");
  let busy = false;
  const run = (errors, action) => {
    if (busy) return;
    busy = true;
    const common = { email: ctx.session().user.email, userId: ctx.session().user.id,
      identity: ctx.session().identity, workerScript: ctx.workerScript,
      onProgress: (phase, f) => progress.update(TITLES[phase] ?? "Working", f),
      askCode: (failure) => prompt.ask(failure) };
    Promise.resolve().then(() => action(common)).then((message) => progress.done(message),
      (error) => {
        progress.done("");
        errors.show([describe(error)]);
      }).finally(() => {
      prompt.cancel();
      busy = false;
    });
  };
  const held = heldBanner({ ...ctx, say: (text) => progress.done(text) });
  const section = el("section", { class: "card", id: "v2-keys", "aria-labelledby": "v2-keys-title" },
    el("h2", { id: "v2-keys-title" }, "Password and keys"), held.banner, ...progress.nodes,
    prompt.form, passwordForm(ctx, run), rotateForm(ctx, run), exportForm(ctx, run));
  container.replaceChildren(section);
  const check = () => held.refresh().catch((error) => {
    // A 401 is the session ending: the store wipes and this section stops.
    if (error?.status !== 401) console.error("held reset:", error);
  });
  check();
  const timer = setInterval(check, (ctx.config.recheckSeconds ?? 45) * 1000);
  return { stop: () => { clearInterval(timer); container.replaceChildren(); } };
}
