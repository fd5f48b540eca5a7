// HTTP for the version 2 chat (docs/api.md "Version 2 conversations"): JSON with the
// CSRF token, refusals as ApiFailure carrying the server's {error, detail, field, …}.
// Bytes travel as standard base64, ids and hashes as hex.
import { base64 } from "@scure/base";

/** A refusal of the server (or an unreachable one: status 0, code "unreachable"). */
export class ApiFailure extends Error {
  constructor(status, body) {
    super(body?.detail ?? `request failed (${status})`);
    this.name = "ApiFailure";
    this.status = status;
    this.code = body?.error ?? "api_failure";
    this.body = body ?? {};
  }
}

export const b64 = (bytes) => base64.encode(bytes);
export const unb64 = (text) => base64.decode(text);

/** `{get(path), post(path, body)}` resolving to the decoded JSON of a 2xx answer. */
export function createApi() {
  let csrf = null;

  async function send(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") {
      if (csrf === null) csrf = (await send("GET", "/api/v1/csrf")).csrf_token;
      headers["Content-Type"] = "application/json";
      headers["X-CSRFToken"] = csrf;
    }
    let response;
    try {
      response = await fetch(path, { method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      throw new ApiFailure(0, { error: "unreachable", detail: "the server cannot be reached" });
    }
    // An answer that is not JSON (a proxy's error page, a 204) carries no detail: null,
    // and the status alone speaks; not a failure of its own.
    const json = await response.json().catch(() => null);
    if (!response.ok) throw new ApiFailure(response.status, json);
    return json;
  }

  return { get: (path) => send("GET", path), post: (path, body) => send("POST", path, body),
    put: (path, body) => send("PUT", path, body) };
}
