// Worker for bench/browser_crypto.py, started by the page with startWorker (fetched with
// integrity, run from a blob: URL under the page's CSP): runs the harness on request.
globalThis.onmessage = async ({ data }) => {
  try {
    const harness = await import(data.harness);
    globalThis.postMessage(await harness.run(data.options));
  } catch (error) {
    globalThis.postMessage({ failed: `${error.name}: ${error.message}` });
  }
};
