// What the shell shows once the identity is unlocked. The contract (issue 12) is the
// chat's: `await startChat(rootElement, keys)` with
//   keys = { user: {id, email}, generation, ageIdentities (AGE-SECRET-KEY-… strings,
//            newest first), signingSeed (Uint8Array(32), current generation), onLogout }
// and it may return {stop()} (called when the session ends). Until static/js/v2/chat/
// exists, a plain signed-in view stands in. The integrator switches by one line:
//   export { startChat as mountSignedIn } from "./chat/index.js";
export { showSignedIn as mountSignedIn } from "./accounts/home.js";
