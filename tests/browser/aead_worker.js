// Test worker for tests/browser/test_aead_wasm.py: started by the page with the bundle's
// startWorker (fetched with integrity, run from a blob: URL, so it inherits the page's
// CSP), it imports the AEAD bundle named in the first message and answers with what
// the page-side harness answers (aead_harness.js): SHA-256 digests, never the bytes.
let securityViolations = 0;
globalThis.addEventListener("securitypolicyviolation", () => { securityViolations += 1; });

globalThis.onmessage = async ({ data }) => {
  try {
    const harness = await import(data.harness);
    const result = await harness.run(data.bundle, data.cases);
    globalThis.postMessage({ ...result, violations: securityViolations });
  } catch (error) {
    globalThis.postMessage({ failed: `${error.name}: ${error.message}` });
  }
};
