// Small DOM helpers of the key pages: elements built in JS, forms that show every error
// at once (role="alert"), a progress bar for the derive Worker's scrypt, and the inline
// second-factor prompt the step-up asks for when the server answers code_required.
import { CryptoError } from "../../crypto/errors.js";
import { ApiFailure } from "../accounts/api.js";
import { describeFailure } from "../accounts/views.js";
import { KEYS as K } from "../strings.js";

/** `tag` with attributes and children (strings become text). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === true) node.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** A labelled input in a <p>: returns {row, input}. */
export function field(id, label, { type = "password", autocomplete = "current-password",
  help = null } = {}) {
  const input = el("input", { type, id, name: id, autocomplete, required: true,
    "aria-describedby": help ? `${id}-help` : null });
  const row = el("p", {}, el("label", { for: id }, label), input,
    help ? el("span", { class: "helptext", id: `${id}-help` }, help) : null);
  return { row, input };
}

/** An error box (role="alert") and a function showing a list of messages in it. */
export function errorBox(id) {
  const box = el("div", { class: "form-error", id, role: "alert", tabindex: "-1", hidden: true });
  const show = (messages) => {
    box.replaceChildren(...messages.map((text) => el("p", {}, text)));
    box.hidden = messages.length === 0;
  };
  return { box, show };
}

/** The sentence for a failure of a key change (the account views' wording, plus ours). */
export function describe(error) {
  if (error instanceof ApiFailure) {
    if (error.code === "wrong_password") return K.wrongPassword;
    if (error.code === "invalid_link") {
      return K.invalidLink;
    }
  }
  if (error instanceof CryptoError) {
    if (error.code === "bad_recovery_code") return K.badRecoveryCode;
    if (error.code === "unwrap_failed" || error.code === "key_mismatch") {
      return K.recoveryMismatch;
    }
    if (error.code === "directory_mismatch") {
      return K.alarm(error.message);
    }
  }
  return describeFailure(error);
}

/** A progress bar with a live text; `update(title, fraction)`, `done()`. */
export function progressBar(id) {
  const bar = el("progress", { id, max: "100", value: "0", hidden: true });
  const text = el("p", { id: `${id}-text`, role: "status", "aria-live": "polite" });
  let announced = -1;
  return {
    nodes: [bar, text],
    update(title, fraction) {
      bar.hidden = false;
      bar.value = Math.round(fraction * 100);
      if (fraction - announced >= 0.25 || fraction === 1 || announced < 0) {
        announced = fraction;
        text.textContent = `${title}: ${Math.round(fraction * 100)}%.`;
      }
    },
    say(message) {
      text.textContent = message;
    },
    done(message = "") {
      bar.hidden = true;
      announced = -1;
      text.textContent = message;
    },
  };
}

/**
 * The inline second-factor prompt: `ask(failure)` shows it (with the refusal when a
 * code was wrong) and resolves with the code typed; `cancel` rejects a waiting ask.
 */
export function codePrompt(id) {
  const { row, input } = field(`${id}-input`,
    K.codeField,
    { type: "text", autocomplete: "one-time-code" });
  const errors = errorBox(`${id}-errors`);
  const button = el("button", { type: "submit" }, K.continue);
  const form = el("form", { id, novalidate: true, hidden: true }, errors.box, row, button);
  let waiting = null;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const code = input.value.trim();
    if (!code) {
      errors.show([K.enterCode]);
      return;
    }
    input.value = "";
    form.hidden = true;
    waiting?.resolve(code);
    waiting = null;
  });
  return {
    form,
    ask(failure) {
      errors.show(failure?.code === "invalid_code" ? [failure.detail] : []);
      form.hidden = false;
      input.focus();
      return new Promise((resolve, reject) => { waiting = { resolve, reject }; });
    },
    cancel() {
      form.hidden = true;
      waiting?.reject(new Error("cancelled"));
      waiting = null;
    },
  };
}

/** Starts a download of `bytes` named `filename`. */
export function download(bytes, filename, type = "application/octet-stream") {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const link = el("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
