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
import { bindNavMenu } from "../common/navmenu.js";
import { logFailure } from "../common/log.js";
import { Api } from "./accounts/api.js";
import { showRecoveryCode } from "./accounts/recoveryview.js";
import { AccountStore } from "./accounts/store.js";
import { bindLogin, bindSignup } from "./accounts/views.js";
import {
  parseCancelPath, parseResetPath, showCancelHold, showResetLink, showResetRequest, takeResetLink,
} from "./keys/index.js";
import { mountSignedIn } from "./mount.js";
import "./profile/index.js";
import { showEnrolStage, showVerifyStage } from "./profile/stages.js";
import { router } from "./router.js";
import { SHELL } from "./strings.js";

// Sections of templates/v2/app.html shown by the store's view; "home" (signed in) and
// "login" (signed out, at rest) are refined by the route.
const SECTIONS = ["login", "code", "signup", "progress", "recovery", "stage", "chat", "page",
  "notfound"];
const $ = (id) => document.getElementById(id);

function readJson(id) {
  return JSON.parse($(id).textContent);
}

router.register("home", "/", { access: "any" });
router.register("login", "/login/", { access: "any", title: SHELL.loginTitle });
router.register("signup", "/signup/", { access: "any", title: SHELL.signupTitle });

/** The chat's file config (static/js/v2/files/ setFileConfig): the scripts the page names
 * (download Service Worker, PDF.js and its worker) and the deployment's preview limit. */
function fileConfig(config) {
  const pinned = (name) => ({ url: $("v2-app").dataset[`${name}Url`],
    integrity: $("v2-app").dataset[`${name}Integrity`] });
  return { downloadWorker: pinned("downloadWorker"), pdfRenderer: pinned("pdfRenderer"),
    pdfWorker: pinned("pdfWorker"), previewMax: config.previewMax };
}

/** What the key pages (./keys) need from the shell: the account store, the derive
 * Worker, the password rules' list, and where to go when a reset page is done. */
function keyContext(store, workerScript, commonPasswords) {
  return { api: store.api, config: store.config, commonPasswords, workerScript, store,
    loginUrl: "/login/",
    session: () => store.session,
    replaceIdentity: (identity, text, options) => store.replaceIdentity(identity, text, options),
    done: (status) => {
      router.navigate("/login/", { replace: true });
      store.show("login", { status });
    } };
}

/** The forgotten-password pages of ./keys/reset.js on the router (paths in
 * accounts/urls_v2.py SHELL_PATHS; the emails link to them). */
function registerKeyPages(keys) {
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

/** Which section shows for the store's view on the current route. */
function visibleSection(store, route) {
  const signedIn = store.view === "home";
  if (store.view !== "login" && !signedIn) return store.view;
  if (route?.name === null || route === null) return "notfound";
  if (["home", "login", "signup"].includes(route.name)) {
    if (signedIn) return "chat";
    return route.name === "signup" ? "signup" : "login";
  }
  const { access } = route.view;
  if (signedIn) return access === "signed-out" ? "notfound" : "page";
  return access === "signed-in" ? "login" : "page";
}

class Shell {
  constructor(store, workerScript, registration) {
    this.store = store;
    this.workerScript = workerScript;
    this.registration = registration; // the server's mode: "open", "invite" or "closed"
    this.page = null; // {route, handle} of the mounted module view
    this.chat = null;
  }

  render() {
    const { store } = this;
    const route = router.current;
    if (store.view === "home" && (route?.name === "login" || route?.name === "signup")) {
      router.navigate("/", { replace: true }); // signed in: the chat, not a login form
      return;
    }
    const visible = visibleSection(store, route);
    $("v2-app").dataset.state = store.view;
    $("v2-app").dataset.section = visible;
    $("v2-loading").hidden = store.view !== "loading";
    for (const name of SECTIONS) $(`v2-${name}`).hidden = visible !== name;
    $("v2-status").textContent = store.status;
    $("v2-alarm").textContent = store.alarm;
    $("v2-alarm").hidden = !store.alarm;
    this.renderNav();
    this.mountPage(visible === "page" ? route : null);
    if (route?.view?.title && visible === "page") document.title = route.view.title;
  }

  renderNav() {
    const signedIn = this.store.view === "home";
    const link = (href, text) => {
      const a = Object.assign(document.createElement("a"), { href, textContent: text });
      if (location.pathname === href) a.setAttribute("aria-current", "page");
      const item = document.createElement("li");
      item.append(a);
      return item;
    };
    const items = signedIn ? [link("/", SHELL.chat), link("/me/", SHELL.profile)]
      : [link("/login/", SHELL.logIn), link("/signup/", SHELL.signUp)];
    if (signedIn) {
      const button = Object.assign(document.createElement("button"),
        { type: "button", id: "v2-logout", className: "link-button", textContent: SHELL.logOut });
      button.addEventListener("click", () => this.store.logout());
      const item = document.createElement("li");
      item.append(button);
      items.push(item);
    }
    $("v2-nav").replaceChildren(...items);
  }

  /** Mounts the module view of `route` into #v2-page (or unmounts: null). */
  mountPage(route) {
    if ((this.page?.route ?? null) === route) return;
    const shown = this.page;
    // A view that failed to mount (logged below) has nothing to stop.
    shown?.handle.then((mounted) => mounted?.stop?.(), () => undefined)
      .catch((error) => logFailure(`view ${shown.route.name}`, "did not stop", error));
    this.page = null;
    const root = document.createElement("div");
    $("v2-page").replaceChildren(root);
    if (!route) return;
    const context = { params: route.params, path: route.path, store: this.store, router,
      workerScript: this.workerScript };
    const handle = Promise.resolve().then(() => route.view.mount(root, context));
    handle.catch((error) => {
      logFailure(`view ${route.name}`, "did not mount", error);
      this.store.raiseAlarm(SHELL.pageFailed);
    });
    this.page = { route, handle };
  }

  bindChat(keySection) {
    const { store } = this;
    const encryptWorker = { url: $("v2-app").dataset.encryptWorkerUrl,
      integrity: $("v2-app").dataset.encryptWorkerIntegrity };
    store.addEventListener("signed-in", () => {
      Promise.resolve(mountSignedIn($("v2-chat"), store.mountKeys(),
        { encryptWorker, keySection, api: store.api, registration: this.registration,
          files: fileConfig(store.config), heartbeatSeconds: store.config.heartbeatSeconds }))
        .then((handle) => {
          this.chat = handle ?? null;
          store.setLogoutGuard(() => this.chat?.leave?.() ?? true);
        })
        .catch((error) => {
          logFailure("mount", "the signed-in view did not start", error);
          store.raiseAlarm(SHELL.signedInFailed);
        });
    });
    store.addEventListener("signed-out", () => {
      store.setLogoutGuard(null);
      this.chat?.stop?.();
      this.chat = null;
      $("v2-chat").replaceChildren();
      this.mountPage(null);
    });
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
  const shell = new Shell(store, workerScript, config.registration);
  store.addEventListener("change", () => shell.render());
  router.addEventListener("route", () => shell.render());
  shell.bindChat(keys);
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
