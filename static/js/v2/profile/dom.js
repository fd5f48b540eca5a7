// Small DOM helpers for the profile views: everything is built with createElement and
// textContent (no HTML strings), so server text can never become markup.
import { TWO_FACTOR as TF } from "../strings.js";

/** `tag` with attributes (`hidden: true` and other booleans set or omitted) and children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** A labelled input in a <p>: returns {row, input}. */
export function field(id, label, attributes = {}) {
  const input = el("input", { id, name: id, ...attributes });
  return { row: el("p", {}, el("label", { for: id }, label), input), input };
}

/** The current password and (when 2FA is on) a code: the step-up every change asks. */
export function stepUpFields(prefix) {
  const password = field(`${prefix}-password`, TF.currentPassword,
    { type: "password", autocomplete: "current-password", required: true });
  const code = field(`${prefix}-code`, TF.stepUpCode,
    { type: "text", autocomplete: "one-time-code", inputmode: "text" });
  return { password, code, rows: [password.row, code.row] };
}

/** Shows `message` in an alert box (hidden when empty). */
export function showMessage(box, message) {
  box.textContent = message ?? "";
  box.hidden = !message;
}

/** Offers `text` as a downloaded file named `filename`. */
export function downloadText(text, filename) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  const link = el("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
