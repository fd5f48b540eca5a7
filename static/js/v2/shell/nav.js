// The shell's navigation (#v2-nav): chat, profile and logout when signed in; login and
// signup when not. The current page's link carries aria-current.
import { SHELL } from "../strings.js";
import { $ } from "./sections.js";

function linkItem(href, text) {
  const a = Object.assign(document.createElement("a"), { href, textContent: text });
  if (location.pathname === href) a.setAttribute("aria-current", "page");
  const item = document.createElement("li");
  item.append(a);
  return item;
}

/** Fills #v2-nav for the store's view; the logout button calls store.logout(). */
export function renderNav(store) {
  const signedIn = store.view === "home";
  const items = signedIn ? [linkItem("/", SHELL.chat), linkItem("/me/", SHELL.profile)]
    : [linkItem("/login/", SHELL.logIn), linkItem("/signup/", SHELL.signUp)];
  if (signedIn) {
    const button = Object.assign(document.createElement("button"),
      { type: "button", id: "v2-logout", className: "link-button", textContent: SHELL.logOut });
    button.addEventListener("click", () => store.logout());
    const item = document.createElement("li");
    item.append(button);
    items.push(item);
  }
  $("v2-nav").replaceChildren(...items);
}
