// The version 2 browser shell, served at every page path (accounts/urls_v2.py; issue 12):
// one document, client-side views picked by ./router.js from the path.
//   /          the login when signed out, the chat when signed in
//   /login/, /signup/
//   /me/       the profile (./profile/): the login first when signed out, then back here
//   other registered paths: views of other modules (./router.js says how to register);
//   a path nobody registered shows "not found".
// Signup, login (with the code step), the recovery code, the mandatory-enrolment and
// email-verification stages of a half login, and the unlocked identity kept across
// reloads under the session's device key; once unlocked, ./mount.js shows the chat.
// This module wires the parts of ./shell/ together: which section shows (sections.js),
// the nav (nav.js), module views (pages.js), the key pages (keypages.js) and the
// signed-in view (signedin.js).
import { bindNavMenu } from "../common/navmenu.js";
import { logFailure } from "../common/log.js";
import { Api } from "./accounts/api.js";
import { showRecoveryCode } from "./accounts/recoveryview.js";
import { AccountStore } from "./accounts/store.js";
import { bindLogin, bindSignup } from "./accounts/views.js";
import "./profile/index.js";
import { showEnrolStage, showVerifyStage } from "./profile/stages.js";
import { router } from "./router.js";
import { keyContext, registerKeyPages } from "./shell/keypages.js";
import { renderNav } from "./shell/nav.js";
import { PageMount } from "./shell/pages.js";
import { $, renderSections } from "./shell/sections.js";
import { bindSignedIn } from "./shell/signedin.js";
import { SHELL } from "./strings.js";

function readJson(id) {
  return JSON.parse($(id).textContent);
}

router.register("home", "/", { access: "any" });
router.register("login", "/login/", { access: "any", title: SHELL.loginTitle });
router.register("signup", "/signup/", { access: "any", title: SHELL.signupTitle });

class Shell {
  constructor(store, workerScript) {
    this.store = store;
    this.pages = new PageMount({ store, workerScript });
  }

  render() {
    const visible = renderSections(this.store);
    if (visible === null) return; // moved to "/": the route event renders again
    renderNav(this.store);
    const route = router.current;
    this.pages.mount(visible === "page" ? route : null);
    if (route?.view?.title && visible === "page") document.title = route.view.title;
  }

  /** A half login held at "verify" or "enrol"; `finish()` completes it here. */
  holdStage(stage, email, finish) {
    const options = { api: this.store.api, email, finish };
    this.store.show("stage");
    if (stage.email_verification_required) showVerifyStage($("v2-stage"), options);
    else showEnrolStage($("v2-stage"), options);
  }
}

async function main() {
  bindNavMenu();
  const config = readJson("v2-config");
  const workerScript = { url: $("v2-app").dataset.deriveWorkerUrl,
    integrity: $("v2-app").dataset.deriveWorkerIntegrity };
  const store = new AccountStore(new Api(), config);
  const commonPasswords = new Set(readJson("v2-common-passwords"));
  const keys = keyContext(store, workerScript, commonPasswords);
  registerKeyPages(() => keys);
  const shell = new Shell(store, workerScript);
  store.addEventListener("change", () => shell.render());
  router.addEventListener("route", () => shell.render());
  bindSignedIn(store, { keySection: keys, registration: config.registration,
    onSignedOut: () => shell.pages.mount(null) });
  for (const button of document.querySelectorAll("[data-goto]")) {
    button.addEventListener("click", () => router.navigate(`/${button.dataset.goto}/`));
  }
  bindLogin(store, { workerScript,
    onStage: (stage, email, finish) => shell.holdStage(stage, email, finish) });
  bindSignup(store, {
    workerScript, commonPasswords,
    onSignedUp: async ({ recoveryCode, email, stage, ...unlocked }) => {
      // First the code (the only copy is in this page), whatever the login stage is.
      await showRecoveryCode(store, recoveryCode, email);
      const finish = async () => {
        const me = await store.api.get("/api/v1/me");
        await store.signedIn({ id: me.id, email: me.email }, unlocked, false);
        router.navigate("/", { replace: true });
      };
      if (stage?.claim_pending) {
        // An unverified registration held the address: nobody is logged in until its
        // owner opens the emailed link (docs/api.md, signup's 202).
        router.navigate("/login/", { replace: true });
        store.show("login", { status: SHELL.keysMade(email) });
        return;
      }
      if (stage?.enrolment_required) {
        shell.holdStage(stage, email, finish);
        return;
      }
      await finish();
    },
  });
  router.start();
  await store.restore();
}

main().catch((error) => {
  logFailure("v2 shell", "did not start", error);
  $("v2-alarm").textContent = SHELL.startFailed;
  $("v2-alarm").hidden = false;
});
