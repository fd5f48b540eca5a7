// The shell's client router: path → view name + params. The server renders the same shell
// document at every page path (accounts/urls_v2.py SHELL_PATHS); this picks the view.
//
// Registering a view (how a module plugs in, e.g. static/js/v2/keys/*.js):
//
//   import { router } from "../router.js";
//   router.register("password-change", "/me/password/", {
//     access: "signed-in",     // "signed-in": login first, then back here;
//                              // "signed-out": only without a session (e.g. the reset
//                              //   link pages); "any": both
//     mount(root, context) {   // root: an empty <div> the view owns; context: {params,
//                              //   path, store (accounts/store.js: api, config, session
//                              //   {user, identity, recipient, shared} when signed in,
//                              //   logout(), wipe(status)), router, workerScript}
//       root.append(…);        // build the DOM in JS
//       return { stop() { … } };  // optional: called when the route changes
//     },
//     title: "Change password", // optional: the document title
//   });
//
// Register before `start()` (app.js imports the modules, then starts). Patterns are
// paths with ":name" segments ("/password-reset/:uidb64/:token/"); a matched segment is
// URI-decoded into params. The server must serve the path too: add it to
// accounts/urls_v2.py SHELL_PATHS. Navigate with `router.navigate("/me/")` or with an
// ordinary same-origin <a href> to a registered path (clicks are intercepted and become
// history.pushState; anything else loads normally). An unregistered path shows "not
// found". The router emits "route" ({detail: {name, params, path}}; name null when
// nothing matched) on start, navigate and back/forward.

function compile(pattern) {
  if (!pattern.startsWith("/")) throw new Error(`route pattern ${pattern} must start with /`);
  const names = [];
  const source = pattern.split("/").map((segment) => {
    if (segment.startsWith(":")) {
      names.push(segment.slice(1));
      return "([^/]+)";
    }
    return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }).join("/");
  return { regex: new RegExp(`^${source}$`), names };
}

export class Router extends EventTarget {
  constructor() {
    super();
    this.routes = []; // {name, pattern, regex, names, view}
    this.current = null;
    this.started = false;
  }

  /** Adds a view for `pattern` (see the comment above); returns the router. */
  register(name, pattern, view = {}) {
    if (this.routes.some((route) => route.name === name)) {
      throw new Error(`route ${name} is already registered`);
    }
    this.routes.push({ name, pattern, ...compile(pattern),
      view: { access: "signed-in", ...view } });
    return this;
  }

  /** {name, params, path, view} for `path`, or null. */
  match(path) {
    for (const route of this.routes) {
      const found = route.regex.exec(path);
      if (!found) continue;
      const params = {};
      try {
        route.names.forEach((key, index) => { params[key] = decodeURIComponent(found[index + 1]); });
      } catch {
        return null; // a malformed escape: no such page
      }
      return { name: route.name, params, path, view: route.view };
    }
    return null;
  }

  /** The path of route `name` with `params` (for links). */
  pathOf(name, params = {}) {
    const route = this.routes.find((entry) => entry.name === name);
    if (!route) throw new Error(`no route ${name}`);
    return route.pattern.replace(/:([^/]+)/g, (_, key) => encodeURIComponent(params[key]));
  }

  resolve() {
    this.current = this.match(location.pathname) ?? { name: null, params: {}, path: location.pathname,
      view: null };
    this.dispatchEvent(new CustomEvent("route", { detail: this.current }));
  }

  /** Goes to `path` in the page (pushState, or replaceState with {replace: true}). */
  navigate(path, { replace = false } = {}) {
    if (path !== location.pathname + location.search) {
      history[replace ? "replaceState" : "pushState"]({}, "", path);
    }
    this.resolve();
  }

  /** Listens to back/forward and in-app link clicks, then opens the current path. */
  start() {
    if (this.started) return;
    this.started = true;
    window.addEventListener("popstate", () => this.resolve());
    document.addEventListener("click", (event) => this.intercept(event));
    this.resolve();
  }

  intercept(event) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey
        || event.shiftKey || event.altKey) return;
    const link = event.target.closest?.("a[href]");
    if (!link || link.target || link.hasAttribute("download")) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || !this.match(url.pathname)) return;
    event.preventDefault();
    this.navigate(url.pathname + url.search);
  }
}

/** The shell's one router: modules register with it at import time. */
export const router = new Router();
