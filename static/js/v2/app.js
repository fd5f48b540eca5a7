// The version 2 browser shell at /v2/ (issue 12): one document, client-side views.
// Signup, login (with the code step), the recovery code, and the unlocked identity kept
// across reloads under the session's device key; once unlocked, ./mount.js shows what
// comes next (the v2 chat, or the plain signed-in view until it exists).
import { Api } from "./accounts/api.js";
import { showRecoveryCode } from "./accounts/recoveryview.js";
import { AccountStore } from "./accounts/store.js";
import { bindLogin, bindSignup } from "./accounts/views.js";
import {
  parseCancelPath, parseResetPath, showCancelHold, showResetLink, showResetRequest, takeResetLink,
} from "./keys/index.js";
import { mountSignedIn } from "./mount.js";

// "page": a view of ./keys (reset pages) rendered into #v2-page, made below.
const VIEWS = ["login", "code", "signup", "progress", "recovery", "page"];
const $ = (id) => document.getElementById(id);

function readJson(id) {
  return JSON.parse($(id).textContent);
}

function render(store) {
  const root = $("v2-app");
  root.dataset.state = store.view;
  $("v2-loading").hidden = store.view !== "loading";
  for (const view of VIEWS) $(`v2-${view}`).hidden = store.view !== view;
  $("v2-chat").hidden = store.view !== "home";
  $("v2-status").textContent = store.status;
  $("v2-alarm").textContent = store.alarm;
  $("v2-alarm").hidden = !store.alarm;
}

/** What the key pages (./keys) need from the shell. */
function keyContext(store, workerScript, commonPasswords) {
  return { api: store.api, config: store.config, commonPasswords, workerScript, store,
    loginUrl: store.config.loginUrl ?? "/v2/",
    session: () => store.session,
    replaceIdentity: (identity, text, options) => store.replaceIdentity(identity, text, options),
    done: (status) => {
      history.replaceState(null, "", store.config.loginUrl ?? "/v2/");
      store.show("login", { status });
    } };
}

/**
 * The page a shell path asks for (config.route, set by the server's URL pattern) when
 * it is not the account shell itself; true when one is shown.
 */
function showRoutedPage(store, ctx) {
  const root = $("v2-page");
  const route = store.config.route;
  if (route === "reset-request") {
    showResetRequest(root, ctx);
  } else if (route === "reset-link" && parseResetPath(location.pathname)) {
    showResetLink(root, ctx, takeResetLink(location.pathname));
  } else if (route === "reset-cancel" && parseCancelPath(location.pathname)) {
    showCancelHold(root, ctx, { token: parseCancelPath(location.pathname) });
  } else {
    return false;
  }
  store.show("page");
  return true;
}

function bindMount(store, keySection) {
  let mounted = null;
  const encryptWorker = { url: $("v2-app").dataset.encryptWorkerUrl,
    integrity: $("v2-app").dataset.encryptWorkerIntegrity };
  store.addEventListener("signed-in", () => {
    Promise.resolve(mountSignedIn($("v2-chat"), store.mountKeys(), { encryptWorker, keySection }))
      .then((handle) => { mounted = handle ?? null; })
      .catch((error) => {
        console.error("mount:", error);
        store.raiseAlarm("The signed-in view failed to start; reload the page.");
      });
  });
  store.addEventListener("signed-out", () => {
    mounted?.stop?.();
    mounted = null;
    $("v2-chat").replaceChildren();
  });
}

async function main() {
  const config = readJson("v2-config");
  const workerScript = { url: $("v2-app").dataset.deriveWorkerUrl,
    integrity: $("v2-app").dataset.deriveWorkerIntegrity };
  const store = new AccountStore(new Api(), config);
  const commonPasswords = new Set(readJson("v2-common-passwords"));
  const ctx = keyContext(store, workerScript, commonPasswords);
  $("v2-chat").before(Object.assign(document.createElement("div"), { id: "v2-page", hidden: true }));
  store.addEventListener("change", () => render(store));
  bindMount(store, ctx);
  for (const button of document.querySelectorAll("[data-goto]")) {
    button.addEventListener("click", () => store.show(button.dataset.goto));
  }
  bindLogin(store, { workerScript });
  bindSignup(store, {
    workerScript, commonPasswords,
    onSignedUp: async ({ recoveryCode, email, stage, ...unlocked }) => {
      // First the code (the only copy is in this page), whatever the login stage is.
      await showRecoveryCode(store, recoveryCode, email);
      if (stage?.enrolment_required) {
        store.show("login", { status: "Your account is made. Confirm your email address (see "
          + "your inbox) and set up two-factor, then log in." });
        return;
      }
      const me = await store.api.get("/api/v1/me");
      await store.signedIn({ id: me.id, email: me.email }, unlocked, false);
    },
  });
  if (showRoutedPage(store, ctx)) return;
  await store.restore();
}

main().catch((error) => {
  console.error("v2 shell:", error);
  $("v2-alarm").textContent = "This page failed to start. Reload it.";
  $("v2-alarm").hidden = false;
});
