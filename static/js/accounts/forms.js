// Account pages without reloads (progressive enhancement).
//
// A POST form of the account pages (signup, recovery code, login, code, two-factor, backup
// codes, profile, password, email, sessions, delete, password reset, logout) is sent with
// fetch to the same view it posts to without JavaScript. The answer is the very page the
// browser would have loaded (the next step, or the form again with its errors, carrying a
// fresh CSRF token since Django rotates it on login); its <main>, header navigation and title
// replace the current ones in place and history.pushState keeps the address meaningful.
// Focus moves to the first invalid field (errors are announced) or to the new heading.
// Entering the chat app (or any page that is not an account page) is one ordinary navigation.
// Without JavaScript, or on the chat page, nothing here runs and the forms post as usual.

import { bindNavMenu } from "../common/navmenu.js";
import { PAGES } from "../v2/strings.js";

const ACCOUNT_PATH = /^\/(signup|login|logout|verify-email|account|me|password-reset)\//;
// Answers with a file download (no page change), so the browser handles it natively.
const NATIVE_PATH = /^\/me\/export\//;

function accountUrl(url) {
  const target = new URL(url, location.href);
  return target.origin === location.origin && ACCOUNT_PATH.test(target.pathname)
    && !NATIVE_PATH.test(target.pathname);
}

const announcer = document.createElement("div");
announcer.className = "visually-hidden";
announcer.setAttribute("role", "status");
announcer.setAttribute("aria-live", "polite");
announcer.id = "page-announcer";
document.body.append(announcer);

function announce(text) {
  announcer.textContent = "";
  requestAnimationFrame(() => { announcer.textContent = text; });
}

async function load(url, init = {}) {
  const response = await fetch(url, {
    credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" }, ...init,
  });
  const type = response.headers.get("Content-Type") || "";
  const doc = type.includes("text/html")
    ? new DOMParser().parseFromString(await response.text(), "text/html") : null;
  return { url: response.url, doc };
}

function swappable(doc, url) {
  return doc !== null && accountUrl(url) && doc.querySelector("main#main") !== null
    && doc.getElementById("chat-app") === null;
}

function runScripts(doc) {
  // Module scripts of the new page (e.g. copy/print buttons) that this page has not loaded;
  // those already loaded re-enhance the new content on "securechat:page".
  for (const script of doc.querySelectorAll("body > script[type=module][src]")) {
    const src = script.getAttribute("src");
    if (document.querySelector(`script[src="${CSS.escape(src)}"]`)) continue;
    const copy = document.createElement("script");
    copy.type = "module";
    // The page pinned the script (DESIGN.md §1): the copy keeps its integrity.
    copy.integrity = script.getAttribute("integrity") ?? "";
    copy.crossOrigin = script.getAttribute("crossorigin");
    copy.src = src;
    document.body.append(copy);
  }
}

function swap(doc) {
  document.title = doc.title;
  for (const selector of ["header.site-header nav", "main#main"]) {
    const next = doc.querySelector(selector);
    const current = document.querySelector(selector);
    if (next && current) current.replaceWith(document.adoptNode(next));
  }
  runScripts(doc);
  window.dispatchEvent(new CustomEvent("securechat:page"));
  const main = document.getElementById("main");
  const invalid = main.querySelector("[aria-invalid=true]");
  const errorList = main.querySelector(".errorlist");
  if (invalid || errorList) {
    const target = invalid || errorList;
    if (!invalid) errorList.tabIndex = -1;
    target.focus();
    const errors = [...main.querySelectorAll(".errorlist li")].map((li) => li.textContent.trim());
    announce(errors.join(" ") || PAGES.correctForm);
    return;
  }
  const heading = main.querySelector("h1") || main;
  if (heading !== main) heading.tabIndex = -1;
  heading.focus();
  announce(heading.textContent.trim());
}

let shown = location.pathname + location.search;

// The fetch that followed the redirect consumed the one-time messages ("Welcome…") of the
// page it loaded; when that page is then loaded for real, they are shown again from here.
const FLASH_KEY = "securechat:flash";

function keepFlash(doc) {
  const items = doc ? [...doc.querySelectorAll("main .flash li")] : [];
  if (items.length) {
    sessionStorage.setItem(FLASH_KEY, JSON.stringify(
      items.map((li) => ({ tags: li.className, text: li.textContent }))));
  }
}

function restoreFlash() {
  const kept = sessionStorage.getItem(FLASH_KEY);
  sessionStorage.removeItem(FLASH_KEY);
  const main = document.getElementById("main");
  if (!kept || !main || main.querySelector(".flash")) return;
  const list = document.createElement("ul");
  list.className = "flash";
  list.setAttribute("role", "status");
  for (const { tags, text } of JSON.parse(kept)) {
    const li = document.createElement("li");
    li.className = tags;
    li.textContent = text;
    list.append(li);
  }
  main.prepend(list);
}

restoreFlash();
bindNavMenu();

function show({ url, doc }, push) {
  if (!swappable(doc, url)) {
    keepFlash(doc);
    if (push) location.assign(url);
    else location.replace(url);
    return;
  }
  swap(doc);
  const target = new URL(url);
  if (push && target.pathname + target.search !== shown) {
    history.pushState({ securechat: true }, "", url);
  }
  shown = target.pathname + target.search;
  window.scrollTo(0, 0);
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (event.defaultPrevented || !(form instanceof HTMLFormElement)) return;
  // Attributes, not form.action/form.method: a field named "action" shadows those.
  const action = new URL(form.getAttribute("action") || location.href, location.href).href;
  if ((form.getAttribute("method") || "").toLowerCase() !== "post" || !accountUrl(action)
      || document.getElementById("chat-app")) return;
  event.preventDefault();
  if (form.getAttribute("aria-busy") === "true") return;
  form.setAttribute("aria-busy", "true");
  const data = event.submitter ? new FormData(form, event.submitter) : new FormData(form);
  try {
    show(await load(action, { method: "POST", body: new URLSearchParams(data) }), true);
  } catch {
    announce(PAGES.unreachable); // shown to the user: the form stays for another try
  } finally {
    form.removeAttribute("aria-busy");
  }
});

window.addEventListener("popstate", async () => {
  if (location.pathname + location.search === shown) return; // a #fragment link, same page
  if (!accountUrl(location.href) || document.getElementById("chat-app")) {
    location.reload();
    return;
  }
  try {
    show(await load(location.href), false);
  } catch {
    location.reload(); // the page could not be fetched in place: the browser loads it
  }
});
