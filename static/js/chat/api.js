// fetch wrapper for the JSON API: same-origin cookies, the CSRF token from
// /api/v1/csrf (the cookie is HttpOnly), JSON bodies, and errors as ApiError
// carrying the server's {error, detail}.

export class ApiError extends Error {
  constructor(status, code, detail, body = null) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || "http_error";
    this.detail = detail || this.message;
    this.body = body;
  }
}

let csrfToken = null;

export async function getCsrfToken(refresh = false) {
  if (csrfToken && !refresh) return csrfToken;
  const response = await fetch("/api/v1/csrf", { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw new ApiError(response.status, "csrf", "Could not reach the server.");
  csrfToken = (await response.json()).csrf_token;
  return csrfToken;
}

async function parse(response) {
  const type = response.headers.get("Content-Type") || "";
  if (response.status === 204) return null;
  if (type.includes("application/json")) return response.json();
  return response.text();
}

export async function api(method, path, body = undefined, { retryCsrf = true } = {}) {
  const headers = { Accept: "application/json" };
  const unsafe = !["GET", "HEAD"].includes(method);
  if (unsafe) headers["X-CSRFToken"] = await getCsrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection.");
  }
  const data = await parse(response).catch(() => null);
  if (response.ok) return data;
  const code = data && typeof data === "object" ? data.error : undefined;
  const detail = data && typeof data === "object" ? data.detail : undefined;
  if (response.status === 403 && unsafe && retryCsrf && /csrf/i.test(`${code} ${detail}`)) {
    await getCsrfToken(true);
    return api(method, path, body, { retryCsrf: false });
  }
  if (response.status === 401) {
    window.dispatchEvent(new CustomEvent("securechat:logged-out"));
  }
  throw new ApiError(response.status, code, detail, data);
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
export const del = (path, body = undefined) => api("DELETE", path, body);
