// The key pages of the v2 shell (the account changes that touch keys): the signed-in
// "Password and keys" section, the forgotten-password pages and the held reset's
// cancel page. The shell's router mounts them; ./flows.js holds the logic (as the
// CLI's client/changes.py).
export { mountKeySection } from "./section.js";
export {
  parseCancelPath, parseResetPath, showCancelHold, showResetLink, showResetRequest, takeResetLink,
} from "./reset.js";
export { upgradeWorkFactor } from "./flows.js";
