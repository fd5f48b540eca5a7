// The version 2 browser shell at /v2/ (issue 12): one document, client-side views.
// Signup, login (with the code step), the recovery code, and the unlocked identity kept
// across reloads under the session's device key; once unlocked, ./mount.js shows what
// comes next (the v2 chat, or the plain signed-in view until it exists).
import { Api } from "./accounts/api.js";
import { showRecoveryCode } from "./accounts/recoveryview.js";
import { AccountStore } from "./accounts/store.js";
import { bindLogin, bindSignup } from "./accounts/views.js";
import { mountSignedIn } from "./mount.js";

const VIEWS = ["login", "code", "signup", "progress", "recovery"];
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

function bindMount(store) {
  let mounted = null;
  const encryptWorker = { url: $("v2-app").dataset.encryptWorkerUrl,
    integrity: $("v2-app").dataset.encryptWorkerIntegrity };
  store.addEventListener("signed-in", () => {
    Promise.resolve(mountSignedIn($("v2-chat"), store.mountKeys(), { encryptWorker }))
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
  store.addEventListener("change", () => render(store));
  bindMount(store);
  for (const button of document.querySelectorAll("[data-goto]")) {
    button.addEventListener("click", () => store.show(button.dataset.goto));
  }
  bindLogin(store, { workerScript });
  bindSignup(store, {
    workerScript, commonPasswords: new Set(readJson("v2-common-passwords")),
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
  await store.restore();
}

main().catch((error) => {
  console.error("v2 shell:", error);
  $("v2-alarm").textContent = "This page failed to start. Reload it.";
  $("v2-alarm").hidden = false;
});
