// The two pieces of two-factor enrolment the profile and the login's mandatory-enrolment
// stage share: the authenticator panel (QR code, the base32 secret, confirm with a code)
// and the backup codes, shown once (copy, download). The QR code is the server's SVG
// (made from the otpauth URI) shown as an <img> data URL: no markup from the server
// enters the page, and no 'unsafe-inline' is needed (CSP img-src allows data:).
import { downloadText, el, field, showMessage } from "./dom.js";
import { TWO_FACTOR as TF } from "../strings.js";

/** The QR code SVG text as an <img>. */
export function qrImage(svg, id) {
  const bytes = new TextEncoder().encode(svg);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return el("img", { id, src: `data:image/svg+xml;base64,${btoa(binary)}`,
    alt: TF.qrAlt, width: 200, height: 200 });
}

function grouped(secret) {
  return secret.match(/.{1,4}/g).join(" ");
}

/**
 * The authenticator step: scan (or type the secret), then confirm with a code.
 * `confirm(code)` resolves when accepted, or rejects with a message for the user.
 */
export function enrolmentPanel(prefix, enrolment, confirm) {
  const error = el("p", { class: "form-error", id: `${prefix}-confirm-error`, role: "alert",
    hidden: true });
  const code = field(`${prefix}-confirm-code`, TF.appCode,
    { type: "text", autocomplete: "one-time-code", inputmode: "numeric", required: true });
  const form = el("form", { id: `${prefix}-confirm-form`, novalidate: true }, error, code.row,
    el("button", { type: "submit" }, TF.confirm));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = code.input.value.trim();
    if (!value) {
      showMessage(error, TF.enterCode);
      return;
    }
    Promise.resolve(confirm(value)).then(() => { code.input.value = ""; },
      (failure) => showMessage(error, failure?.detail ?? String(failure)));
  });
  return el("div", { id: `${prefix}-enrolment` },
    el("p", {}, TF.scanThis),
    qrImage(enrolment.qr_svg, `${prefix}-qr`),
    el("p", {}, TF.key, el("code", { id: `${prefix}-secret`, class: "fingerprint" },
      grouped(enrolment.secret))),
    form);
}

/** The backup codes, once: list, copy, download, and `done` when the user is finished. */
export function backupCodesPanel(prefix, codes, email, done) {
  const status = el("p", { class: "helptext", role: "status", "aria-live": "polite" });
  const text = TF.codesFile(email, codes);
  const copy = el("button", { type: "button", class: "secondary" }, TF.copy);
  copy.addEventListener("click", () => navigator.clipboard.writeText(codes.join("\n")).then(
    () => { status.textContent = TF.copied; },
    () => { status.textContent = TF.copyFailed; }));
  const download = el("button", { type: "button", class: "secondary" }, TF.downloadTxt);
  download.addEventListener("click", () => downloadText(text, "securechat-backup-codes.txt"));
  const finish = el("button", { type: "button", id: `${prefix}-codes-done` },
    TF.saved);
  finish.addEventListener("click", () => done());
  return el("div", { id: `${prefix}-codes`, role: "group", "aria-labelledby": `${prefix}-codes-title` },
    el("h3", { id: `${prefix}-codes-title` }, TF.codesHeading),
    el("p", {}, TF.codesHelp),
    el("ul", { class: "backup-codes", id: `${prefix}-codes-list` },
      ...codes.map((code) => el("li", {}, el("code", {}, code)))),
    el("div", { class: "actions" }, copy, download), status, finish);
}
