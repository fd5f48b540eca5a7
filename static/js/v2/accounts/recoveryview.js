// The recovery code view after signup: the code in groups a screen reader reads one
// character at a time, copy / print / download as .txt, and "I saved it". The code lives
// in this page's memory only; the server never had it, so "I saved it" asks the server
// nothing (its confirm endpoint, kept for other clients, answers 409 nothing_pending).
import { logFailure } from "../../common/log.js";
import { formatRecoveryCode } from "../../crypto/recovery.js";

import { ACCOUNTS as A } from "../strings.js";

const $ = (id) => document.getElementById(id);

function groupsOf(code) {
  return formatRecoveryCode(code).split("-").map((group, index, all) => {
    const span = document.createElement("span");
    span.className = "recovery-group";
    span.textContent = group;
    span.setAttribute("role", "text");
    span.setAttribute("aria-label",
      A.codeGroup(index + 1, all.length, [...group].join(" ")));
    return span;
  });
}

function download(code, email) {
  const text = A.recoveryFile(email, formatRecoveryCode(code));
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  const link = Object.assign(document.createElement("a"),
    { href: url, download: "securechat-recovery-code.txt" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * Shows `code` until the user confirms saving it; resolves then. Buttons are (re)bound per
 * call; the code is dropped from the DOM on confirmation.
 */
export function showRecoveryCode(store, code, email) {
  const shown = $("v2-recovery-code");
  shown.replaceChildren(...groupsOf(code));
  store.show("recovery");
  $("v2-recovery-title").focus();
  const controller = new AbortController();
  const { signal } = controller;
  $("v2-recovery-copy").addEventListener("click", () => {
    navigator.clipboard.writeText(formatRecoveryCode(code)).then(
      () => store.show("recovery", { status: A.recoveryCopied }),
      (error) => {
        logFailure("copy", "the recovery code was not copied", error);
        store.show("recovery", { status: A.recoveryCopyFailed });
      });
  }, { signal });
  $("v2-recovery-print").addEventListener("click", () => window.print(), { signal });
  $("v2-recovery-download").addEventListener("click", () => download(code, email), { signal });
  return new Promise((resolve) => {
    $("v2-recovery-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const errors = $("v2-recovery-errors");
      if (!$("v2-recovery-saved").checked) {
        errors.textContent = A.recoverySaved;
        errors.hidden = false;
        return;
      }
      errors.hidden = true;
      controller.abort();
      shown.replaceChildren();
      $("v2-recovery-saved").checked = false;
      resolve();
    }, { signal });
  });
}
