// The profile's "Password and keys" section (signed-in): change the password (optionally
// rotating the keys in the same request), rotate the keys, export them as an .age file,
// and the banner of a held reset with its signed cancel. Each action steps up with the
// current password (derived in the Worker, progress shown) and, when the account has a
// second factor, a code asked inline when the server wants one.
import { logFailure } from "../../common/log.js";
import { passwordProblems } from "../accounts/passwordrules.js";

import { codePrompt, describe, download, el, errorBox, field, progressBar } from "./dom.js";
import {
  cancelHeldReset, changePassword, exportIdentity, pendingReset, rotateKeys,
} from "./flows.js";
import { dateTime, KEYS as K } from "../strings.js";

const TITLES = K.titles;

function actionForm(id, title, intro, fields, submit) {
  const errors = errorBox(`${id}-errors`);
  const form = el("form", { id, novalidate: true, "aria-labelledby": `${id}-title` },
    el("h3", { id: `${id}-title` }, title), el("p", {}, intro), errors.box,
    ...fields.map((f) => f.row ?? f), el("button", { type: "submit" }, submit));
  return { form, errors };
}

function passwordForm(ctx, run) {
  const current = field("v2-keys-password-current", K.currentPassword);
  const next = field("v2-keys-password-new", K.newPassword, { autocomplete: "new-password",
    help: K.newPasswordHelp(ctx.config.minPasswordLength) });
  const again = field("v2-keys-password-again", K.newPasswordAgain,
    { autocomplete: "new-password" });
  const rotate = el("input", { type: "checkbox", id: "v2-keys-password-rotate" });
  const { form, errors } = actionForm("v2-keys-password", K.changePassword, K.changeIntro,
    [current, next, again, el("p", {}, el("label", {}, rotate, K.alsoRotate))],
    K.changePassword);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const email = ctx.session().user.email;
    const problems = [
      ...(current.input.value ? [] : [K.enterCurrent]),
      ...passwordProblems(next.input.value, email, { minLength: ctx.config.minPasswordLength,
        maxLength: ctx.config.maxPasswordLength, commonPasswords: ctx.commonPasswords }),
      ...(next.input.value === again.input.value ? [] : [K.newDiffer]),
      ...(next.input.value && next.input.value === current.input.value
        ? [K.sameAsCurrent] : []),
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
        ? K.changedRotated(changed.identity.signingGeneration)
        : K.changed;
      await ctx.replaceIdentity(changed.identity, changed.identityText,
        { status, remount: rotated });
      return status;
    });
  });
  return form;
}

function rotateForm(ctx, run) {
  const current = field("v2-keys-rotate-current", K.currentPassword);
  const { form, errors } = actionForm("v2-keys-rotate", K.rotate, K.rotateIntro, [current],
    K.rotate);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    errors.show(current.input.value ? [] : [K.enterCurrent]);
    if (!current.input.value) return;
    run(errors, async (common) => {
      const rotated = await rotateKeys(ctx.api, { ...common, password: current.input.value });
      current.input.value = "";
      const status = K.rotated(rotated.identity.signingGeneration);
      await ctx.replaceIdentity(rotated.identity, rotated.identityText, { status, remount: true });
      return status;
    });
  });
  return form;
}

function exportForm(ctx, run) {
  const current = field("v2-keys-export-current", K.currentPassword);
  const { form, errors } = actionForm("v2-keys-export", K.exportKeys, K.exportIntro,
    [current], K.exportKeys);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    errors.show(current.input.value ? [] : [K.enterCurrent]);
    if (!current.input.value) return;
    run(errors, async (common) => {
      const bytes = await exportIdentity(ctx.api, { ...common, password: current.input.value });
      current.input.value = "";
      download(bytes, `securechat-identity-${ctx.session().user.email}.age`);
      return K.exported;
    });
  });
  return form;
}

/** The held-reset banner: shown while a reset without the recovery code waits. */
function heldBanner(ctx) {
  const text = el("p", { id: "v2-keys-held-text" });
  const errors = errorBox("v2-keys-held-errors");
  const cancel = el("button", { type: "button", id: "v2-keys-held-cancel" }, K.cancelReset);
  const banner = el("div", { class: "card form-error", id: "v2-keys-held", role: "alert",
    hidden: true }, text, errors.box, cancel);
  let hold = null;
  const refresh = async () => {
    const pending = await pendingReset(ctx.api);
    hold = pending.hold ? { ...pending.hold, userId: pending.userId } : null;
    banner.hidden = hold === null;
    if (hold) {
      text.textContent = K.held(dateTime(hold.publish_at));
    }
  };
  cancel.addEventListener("click", () => {
    if (!hold) return;
    cancelHeldReset(ctx.api, { identity: ctx.session().identity, userId: hold.userId,
      hold: hold.id }).then(() => {
      banner.hidden = true;
      hold = null;
      ctx.say(K.cancelled);
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
      onProgress: (phase, f) => progress.update(TITLES[phase] ?? K.working, f),
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
    el("h2", { id: "v2-keys-title" }, K.heading), held.banner, ...progress.nodes,
    prompt.form, passwordForm(ctx, run), rotateForm(ctx, run), exportForm(ctx, run));
  container.replaceChildren(section);
  const check = () => held.refresh().catch((error) => {
    // A 401 is the session ending: the store wipes and this section stops.
    if (error?.status !== 401) logFailure("held reset", "the banner was not refreshed", error);
  });
  check();
  const timer = setInterval(check, (ctx.config.recheckSeconds ?? 45) * 1000);
  return { stop: () => { clearInterval(timer); container.replaceChildren(); } };
}
