// The key pages (../keys) in the shell: their context, and the forgotten-password pages
// of ../keys/reset.js on the router (paths in accounts/urls_v2.py SHELL_PATHS; the
// emails link to them).
import {
  parseCancelPath, parseResetPath, showCancelHold, showResetLink, showResetRequest, takeResetLink,
} from "../keys/index.js";
import { router } from "../router.js";
import { SHELL } from "../strings.js";

/** What the key pages need from the shell: the account store, the derive Worker, the
 * password rules' list, and where to go when a reset page is done. */
export function keyContext(store, workerScript, commonPasswords) {
  return { api: store.api, config: store.config, commonPasswords, workerScript, store,
    loginUrl: "/login/",
    session: () => store.session,
    replaceIdentity: (identity, text, options) => store.replaceIdentity(identity, text, options),
    done: (status) => {
      router.navigate("/login/", { replace: true });
      store.show("login", { status });
    } };
}

/** Registers the forgotten-password pages; `keys()` gives their context (keyContext). */
export function registerKeyPages(keys) {
  router.register("password-reset", "/password-reset/", { access: "signed-out",
    title: SHELL.resetTitle, mount: (root) => showResetRequest(root, keys()) });
  router.register("password-reset-cancel", "/password-reset/cancel/:token", { access: "any",
    title: SHELL.cancelResetTitle,
    mount: (root) => showCancelHold(root, keys(),
      { token: parseCancelPath(location.pathname) }) });
  router.register("password-reset-link", "/password-reset/:uidb64/:token/", {
    access: "signed-out", title: SHELL.resetLinkTitle,
    mount: (root) => {
      // takeResetLink moves the token out of the address bar (kept for reloads in this tab).
      if (!parseResetPath(location.pathname)) return showResetRequest(root, keys());
      return showResetLink(root, keys(), takeResetLink(location.pathname));
    } });
}
