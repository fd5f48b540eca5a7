// The one place the browser code writes to the console (issue 18): a background failure —
// one no caller awaits, so nobody else would see it — is logged here and never swallowed.
// Every message reads "scope: what" (scope: the module or feature, e.g. "v2 chat"; what:
// what did not happen), followed by the error or detail when there is one, so the logs of
// all modules, pages and workers read alike.
//   logFailure: something went wrong (console.error; the browser tests fail on these);
//   logWarning: a failure expected in normal use, e.g. a request refused because the
//               session just ended, or a refused input (console.warn).
// Importable from pages, Workers and the Service Worker alike: it needs only `console`.

function logged(scope, what, detail) {
  return detail === undefined ? [`${scope}: ${what}`] : [`${scope}: ${what}`, detail];
}

/** Logs a background failure: console.error("scope: what", error). */
export function logFailure(scope, what, error) {
  console.error(...logged(scope, what, error));
}

/** Logs an expected, harmless failure: console.warn("scope: what", detail). */
export function logWarning(scope, what, detail) {
  console.warn(...logged(scope, what, detail));
}
