// The account views of the v2 shell (templates/v2/app.html): login, code step, signup,
// progress, recovery code. Each form shows every error at once, keeps what was typed,
// and announces errors (role="alert") and progress (aria-live). State changes go through
// the store (store.js) and the flows (flows.js).
import { logFailure } from "../../common/log.js";
import { CryptoError } from "../../crypto/errors.js";
import { WORK_FACTOR_CEILING, WORK_FACTOR_FLOOR } from "../../crypto/derive.js";

import { ApiFailure } from "./api.js";
import { DirectoryMismatch, sendCode, signup, startLogin, unlock } from "./flows.js";
import { passwordProblems } from "./passwordrules.js";
import { upgradeWorkFactor } from "../keys/flows.js";
import { ACCOUNTS as A } from "../strings.js";

const $ = (id) => document.getElementById(id);

/** The sentence a user reads for a failure of the account flows. */
export function describeFailure(error) {
  if (error instanceof ApiFailure) {
    if (error.code === "invalid_credentials") return A.wrongCredentials;
    return error.detail;
  }
  if (error instanceof CryptoError) {
    switch (error.code) {
      case "bad_work_factor":
        return A.unsafeWorkFactor(error.message, WORK_FACTOR_FLOOR, WORK_FACTOR_CEILING);
      case "salt_changed":
        return A.saltChanged;
      case "bad_salt":
      case "protocol":
        return A.malformed(error.message);
      case "bad_wrapped_identity":
      case "unwrap_failed":
      case "bad_identity_file":
        return A.keysNotOpened(error.message);
      case "bad_email":
        return A.validEmail;
      case "worker_integrity":
      case "worker_failed":
        return A.codeNotStarted(error.message);
      default:
        return error.message;
    }
  }
  logFailure("account flow", "an unexpected failure", error);
  return A.somethingWrong;
}

function showErrors(box, messages) {
  box.replaceChildren(...messages.map((text) => Object.assign(document.createElement("p"),
    { textContent: text })));
  box.hidden = messages.length === 0;
}

function fieldError(input, span, message) {
  span.textContent = message ?? "";
  span.hidden = !message;
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/** A progress callback for the Worker's scrypt, shown in the bar and announced in steps. */
export function progressView(store, title) {
  $("v2-progress-title").textContent = title;
  $("v2-progress-bar").value = 0;
  $("v2-progress-text").textContent = A.progressStart(title);
  store.show("progress");
  let announced = 0;
  return (fraction) => {
    $("v2-progress-bar").value = Math.round(fraction * 100);
    if (fraction - announced >= 0.25 || fraction === 1) {
      announced = fraction;
      $("v2-progress-text").textContent = A.progressAt(title, Math.round(fraction * 100));
    }
  };
}

/**
 * Wires the login and code forms. `onStage(stage, email, finish)`: the login is held at
 * mandatory enrolment or email verification; `finish()` completes it once enrolled.
 */
export function bindLogin(store, { workerScript, onStage }) {
  $("v2-forgot").href = store.config.passwordResetUrl;
  $("v2-login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    login(store, workerScript, onStage).catch((error) => logFailure("login", "did not finish", error));
  });
  $("v2-code-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submitCode(store).catch((error) => logFailure("code step", "did not finish", error));
  });
}

async function login(store, workerScript, onStage) {
  const email = $("v2-login-email").value.trim();
  const password = $("v2-login-password").value;
  const shared = $("v2-login-shared").checked;
  const missing = [...(email ? [] : [A.enterEmail]),
    ...(password ? [] : [A.enterPassword])];
  showErrors($("v2-login-errors"), missing);
  if (missing.length) return;
  try {
    const onProgress = progressView(store, A.unlocking);
    const pending = await startLogin(store.api, { email, password, workerScript, onProgress });
    // The password waits with the derived keys for a work-factor upgrade after the unlock.
    store.holdLogin({ ...pending, email, shared, password, workerScript });
    if (pending.stage?.otp_required) {
      showErrors($("v2-code-errors"), []);
      store.show("code");
      $("v2-code-input").focus();
      return;
    }
    if (pending.stage?.enrolment_required) {
      // The wrap key waits in store.pendingLogin until the authenticator is confirmed.
      onStage(pending.stage, email, () => finishLogin(store).catch((error) => failLogin(store, error)));
      return;
    }
    await finishLogin(store);
  } catch (error) {
    await failLogin(store, error);
  }
}

async function submitCode(store) {
  const code = $("v2-code-input").value.trim();
  if (!code) {
    showErrors($("v2-code-errors"), [A.enterCode]);
    return;
  }
  try {
    await sendCode(store.api, code);
  } catch (error) {
    if (error instanceof ApiFailure && error.status !== 401) {
      showErrors($("v2-code-errors"), [describeFailure(error)]);
      return;
    }
    await failLogin(store, error);
    return;
  }
  try {
    await finishLogin(store);
  } catch (error) {
    await failLogin(store, error);
  }
}

async function finishLogin(store) {
  const pending = store.pendingLogin;
  const unlocked = await unlock(store.api, pending.email, pending);
  store.dropLogin();
  await upgradeAfterLogin(store, pending, unlocked);
  const me = await store.api.get("/api/v1/me");
  $("v2-login-password").value = "";
  $("v2-code-input").value = "";
  await store.signedIn({ id: me.id, email: me.email }, unlocked, pending.shared);
}

/**
 * When the server's work factor is above the account's, the same password is derived at
 * it and the identity re-wrapped (docs/api.md "Browser (work-factor upgrade)"). A failure
 * leaves the login as it is: the next login tries again.
 */
async function upgradeAfterLogin(store, pending, unlocked) {
  try {
    if (unlocked.targetWorkFactor > pending.params.workFactor) {
      await upgradeWorkFactor(store.api, { email: pending.email, params: pending.params,
        authKey: pending.keys.authKey, password: pending.password,
        identityText: unlocked.identityText, targetWorkFactor: unlocked.targetWorkFactor,
        shared: pending.shared, workerScript: pending.workerScript,
        onProgress: progressView(store, A.strengthening) });
    }
  } catch (error) {
    logFailure("work-factor upgrade", "the keys keep their old work factor", error);
  } finally {
    pending.keys.authKey.fill(0);
  }
}

async function failLogin(store, error) {
  if (store.dropLogin()) {
    // The server accepted the auth key but nothing was unlocked here: end that session
    // rather than leave a login this page cannot use.
    await store.api.post("/api/v1/auth/logout").catch(
      (e) => logFailure("logout", "the server did not end the unusable login", e));
    store.api.forgetCsrf();
  }
  if (error instanceof DirectoryMismatch) {
    // The server shows keys this user never made: the session is ended, nothing kept.
    store.raiseAlarm(A.securityAlarm(error.message));
    store.show("login");
    return;
  }
  store.show("login");
  showErrors($("v2-login-errors"), [describeFailure(error)]);
  $("v2-login-errors").focus?.();
}

/** Wires the signup form; `onSignedUp({identity, identityText, recipient, recoveryCode, email, stage})`. */
/** The invitation an emailed link carries (/signup/?invitation=…&email=…), if any. */
function invitationFromLink() {
  const query = new URLSearchParams(location.search);
  return { invitation: query.get("invitation") || undefined, email: query.get("email") || "" };
}

export function bindSignup(store, { workerScript, commonPasswords, onSignedUp }) {
  const link = invitationFromLink();
  if (link.email && !$("v2-signup-email").value) $("v2-signup-email").value = link.email;
  $("v2-signup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submitSignup(store, workerScript, commonPasswords, onSignedUp)
      .catch((error) => logFailure("signup", "did not finish", error));
  });
}

function signupProblems(config, commonPasswords) {
  const email = $("v2-signup-email").value.trim();
  const password = $("v2-signup-password").value;
  const problems = {
    email: email && /^[^@\s]+@[^@\s]+$/.test(email) ? null : A.validEmail,
    password: passwordProblems(password, email, { minLength: config.minPasswordLength,
      maxLength: config.maxPasswordLength, commonPasswords }).join(" ") || null,
    confirm: password === $("v2-signup-confirm").value ? null : A.passwordsDiffer,
  };
  return { email, password, problems };
}

function showSignupProblems(problems, general = []) {
  for (const name of ["email", "password", "confirm"]) {
    fieldError($(`v2-signup-${name}`), $(`v2-signup-${name}-error`), problems[name]);
  }
  const all = [...general, ...Object.values(problems).filter(Boolean)];
  showErrors($("v2-signup-errors"), all);
  const first = ["email", "password", "confirm"].find((name) => problems[name]);
  if (first) $(`v2-signup-${first}`).focus();
}

async function submitSignup(store, workerScript, commonPasswords, onSignedUp) {
  const { email, password, problems } = signupProblems(store.config, commonPasswords);
  showSignupProblems(problems);
  if (Object.values(problems).some(Boolean)) return;
  let made;
  try {
    const onProgress = progressView(store, A.protecting);
    made = await signup(store.api, { email, password, keyType: store.config.keyType,
      workerScript, onProgress, invitation: invitationFromLink().invitation });
  } catch (error) {
    store.show("signup");
    if (error instanceof ApiFailure && error.field === "email") {
      showSignupProblems({ email: describeFailure(error) });
    } else {
      showSignupProblems({}, [describeFailure(error)]);
    }
    return;
  }
  $("v2-signup-password").value = "";
  $("v2-signup-confirm").value = "";
  // The account exists from here on: failures no longer belong to the signup form.
  try {
    await onSignedUp({ ...made, email });
  } catch (error) {
    store.show("login", { status: A.madeLogIn(describeFailure(error)) });
  }
}
