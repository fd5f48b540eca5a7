// The v2 shell's JSON API client: same-origin cookies, the CSRF token from /api/v1/csrf
// (the cookie is HttpOnly), JSON bodies, errors as ApiFailure carrying the server's
// {error, detail, field}. A 401 from any call of a signed-in shell means the session
// ended elsewhere: `onUnauthorized` (set by the store) wipes the keys.
import { logFailure } from "../../common/log.js";
import { ACCOUNTS as A } from "../strings.js";

/** A refused or failed API call: HTTP status (0 when unreachable), code, detail, field. */
export class ApiFailure extends Error {
  constructor(status, code, detail, field = null) {
    super(detail || code || `HTTP ${status}`);
    this.name = "ApiFailure";
    this.status = status;
    this.code = code || "http_error";
    this.detail = detail || this.message;
    this.field = field;
  }
}

export class Api {
  constructor() {
    this.csrfToken = null;
    this.onUnauthorized = null; // (failure) => void, while signed in
  }

  async csrf(refresh = false) {
    if (this.csrfToken && !refresh) return this.csrfToken;
    const response = await fetch("/api/v1/csrf", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new ApiFailure(response.status, "csrf", A.unreachable);
    this.csrfToken = (await response.json()).csrf_token;
    return this.csrfToken;
  }

  /**
   * The JSON answer of `method path` with `body`; ApiFailure for anything but 2xx.
   * `background`: a request the user did not make (the re-check), which the server does
   * not count as use of the session (X-SecureChat-Background, docs/api.md).
   */
  async call(method, path, body = undefined, { retryCsrf = true, background = false } = {}) {
    const headers = { Accept: "application/json" };
    if (background) headers["X-SecureChat-Background"] = "1";
    const unsafe = method !== "GET";
    if (unsafe) headers["X-CSRFToken"] = await this.csrf();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { method, headers, credentials: "same-origin", cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      logFailure("api", `${method} ${path} failed`, error);
      throw new ApiFailure(0, "network", A.noConnection);
    }
    // An answer that is not JSON (a proxy's error page, a 204) carries no detail: null,
    // and the status alone speaks; not a failure of its own.
    const data = await response.json().catch(() => null);
    if (response.ok) return data;
    const failure = new ApiFailure(response.status, data?.error, data?.detail, data?.field ?? null);
    if (response.status === 403 && unsafe && retryCsrf && /csrf/i.test(`${failure.code} ${failure.detail}`)) {
      await this.csrf(true);
      return this.call(method, path, body, { retryCsrf: false, background });
    }
    if (response.status === 401) this.onUnauthorized?.(failure);
    throw failure;
  }

  get(path, options = {}) {
    return this.call("GET", path, undefined, options);
  }

  post(path, body = {}) {
    return this.call("POST", path, body);
  }

  /** After a login or logout the server rotates the CSRF token. */
  forgetCsrf() {
    this.csrfToken = null;
  }
}
