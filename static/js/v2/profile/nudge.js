// The nudge to set up two-factor authentication (issue 15 "Accounts"): once the address
// is verified and while two-factor is off, a dismissable note above the chat links to
// the profile's two-factor section. "Not now" is remembered per account in this browser
// (whether a note was dismissed is no secret); setting two-factor up ends it for good.
import { el } from "./dom.js";
import { TWO_FACTOR as TF } from "../strings.js";

const DISMISSED = "dismissed";

export function nudgeKey(userId) {
  return `securechat.nudge.two-factor.${userId}`;
}

/**
 * Shows the nudge in `root` when `me` (GET /api/v1/me) calls for it; returns {stop}.
 * `storage` remembers the dismissal (localStorage; a shared computer passes null and
 * then the nudge comes back at the next login).
 */
export function showTwoFactorNudge(root, me, { storage }) {
  const key = nudgeKey(me.id);
  const wanted = me.email_verified && !me.otp_enabled && storage?.getItem(key) !== DISMISSED;
  // The decision, for tests and styles: "shown" or "not-needed" (absent until known).
  root.dataset.twoFactorNudge = wanted ? "shown" : "not-needed";
  if (!wanted) {
    root.replaceChildren();
    return { stop: () => root.replaceChildren() };
  }
  const later = el("button", { type: "button", class: "secondary", id: "v2-nudge-2fa-later" },
    TF.notNow);
  const note = el("aside", { class: "card notice", id: "v2-nudge-2fa",
    "aria-labelledby": "v2-nudge-2fa-title" },
  el("h2", { id: "v2-nudge-2fa-title" }, TF.nudgeHeading),
  el("p", {}, TF.nudgeText),
  el("p", { class: "actions" }, el("a", { href: "/me/", class: "button",
    id: "v2-nudge-2fa-setup" }, TF.nudgeSetUp), " ", later));
  later.addEventListener("click", () => {
    storage?.setItem(key, DISMISSED);
    root.dataset.twoFactorNudge = "dismissed";
    root.replaceChildren();
  });
  root.replaceChildren(note);
  return { stop: () => root.replaceChildren() };
}
