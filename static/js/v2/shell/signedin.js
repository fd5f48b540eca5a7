// The signed-in view in #v2-chat (../mount.js): mounted on the store's "signed-in",
// asked before a logout (the store's logout guard), stopped on "signed-out".
import { logFailure } from "../../common/log.js";
import { mountSignedIn } from "../mount.js";
import { SHELL } from "../strings.js";
import { $ } from "./sections.js";

/** The {url, integrity} of a pinned bundle #v2-app names (data-NAME-url, -integrity). */
function pinned(name) {
  const { dataset } = $("v2-app");
  return { url: dataset[`${name}Url`], integrity: dataset[`${name}Integrity`] };
}

/** The chat's file config (static/js/v2/files/ setFileConfig): the scripts the page names
 * (download Service Worker, PDF.js and its worker) and the deployment's preview limit. */
function fileConfig(config) {
  return { downloadWorker: pinned("downloadWorker"), pdfRenderer: pinned("pdfRenderer"),
    pdfWorker: pinned("pdfWorker"), previewMax: config.previewMax };
}

/**
 * Mounts the signed-in view whenever `store` signs in and stops it when it signs out
 * (then `onSignedOut()`). `keySection`: the key pages' context (./keypages.js);
 * `registration`: the server's mode ("open", "invite" or "closed").
 */
export function bindSignedIn(store, { keySection, registration, onSignedOut }) {
  let chat = null; // the mounted view's {stop(), leave()}
  const encryptWorker = pinned("encryptWorker");
  store.addEventListener("signed-in", () => {
    Promise.resolve(mountSignedIn($("v2-chat"), store.mountKeys(),
      { encryptWorker, keySection, api: store.api, registration,
        files: fileConfig(store.config), qrReader: pinned("qrReader"),
        heartbeatSeconds: store.config.heartbeatSeconds }))
      .then((handle) => {
        chat = handle ?? null;
        store.setLogoutGuard(() => chat?.leave?.() ?? true);
      })
      .catch((error) => {
        logFailure("mount", "the signed-in view did not start", error);
        store.raiseAlarm(SHELL.signedInFailed);
      });
  });
  store.addEventListener("signed-out", () => {
    store.setLogoutGuard(null);
    chat?.stop?.();
    chat = null;
    $("v2-chat").replaceChildren();
    onSignedOut();
  });
}
