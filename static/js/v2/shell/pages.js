// The module views of registered routes (../router.js), mounted one at a time into
// #v2-page: mounting another route (or none) stops the one shown.
import { logFailure } from "../../common/log.js";
import { router } from "../router.js";
import { SHELL } from "../strings.js";
import { $ } from "./sections.js";

export class PageMount {
  #page = null; // {route, handle} of the mounted module view

  /** `context`: what every view gets besides its route ({store, workerScript}). */
  constructor({ store, workerScript }) {
    this.store = store;
    this.workerScript = workerScript;
  }

  /** Mounts the module view of `route` into #v2-page (or unmounts: null). */
  mount(route) {
    if ((this.#page?.route ?? null) === route) return;
    if (this.#page) stopPage(this.#page);
    this.#page = null;
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
    this.#page = { route, handle };
  }
}

/** Stops a mounted view once its mount is done; a view that failed to mount (logged by
 *  mount()) has nothing to stop. */
function stopPage({ route, handle }) {
  handle.then((mounted) => mounted?.stop?.(), () => undefined) // a failed mount: logged
    .catch((error) => logFailure(`view ${route.name}`, "did not stop", error));
}
