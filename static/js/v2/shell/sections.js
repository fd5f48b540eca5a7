// Which section of templates/v2/app.html shows (the shell's concern of ../app.js): the
// account store's view, refined by the route for "home" (signed in) and "login" (signed
// out, at rest).
import { router } from "../router.js";

// The sections of templates/v2/app.html (#v2-<name>), one shown at a time.
export const SECTIONS = ["login", "code", "signup", "progress", "recovery", "stage", "chat",
  "page", "notfound"];

export const $ = (id) => document.getElementById(id);

/** Which section shows for the store's view on the current route. */
export function visibleSection(store, route) {
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

/**
 * Shows the section for the store's view on the current route, with the store's status
 * and alarm; the section's name, or null when a signed-in login route moved to "/"
 * instead (the route event renders again).
 */
export function renderSections(store) {
  const route = router.current;
  if (store.view === "home" && (route?.name === "login" || route?.name === "signup")) {
    router.navigate("/", { replace: true }); // signed in: the chat, not a login form
    return null;
  }
  const visible = visibleSection(store, route);
  $("v2-app").dataset.state = store.view;
  $("v2-app").dataset.section = visible;
  $("v2-loading").hidden = store.view !== "loading";
  for (const name of SECTIONS) $(`v2-${name}`).hidden = visible !== name;
  $("v2-status").textContent = store.status;
  $("v2-alarm").textContent = store.alarm;
  $("v2-alarm").hidden = !store.alarm;
  return visible;
}
