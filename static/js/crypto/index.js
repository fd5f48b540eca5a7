// The browser's client crypto (DESIGN.md §3), one entry point for the bundle: pages
// and the Chromium vector tests import it from the hash-named file in the manifest.
// The WebAssembly AEAD (./aead.js) is its own entry point, not re-exported here: its
// ~300 KB module would otherwise ride along with every page.
export * from "./bytes.js";
export * from "./derive.js";
export * from "./endorsement.js";
export * from "./fileclaim.js";
export * from "./errors.js";
export * from "./message.js";
export * from "./messagebox.js";
export * from "./normalise.js";
export * from "./recovery.js";
export * from "./safety.js";
export * from "./statement.js";
export * from "./derive-client.js";
export * from "./worker-start.js";
export * from "./wrap.js";
export * from "./params.js";
export * from "./filehash.js";
export * from "./fingerprints.js";
export * from "./notices.js";
export * from "./membership.js";
export * from "./agefile.js";
export * from "./epochs.js";
export * from "./identityfile.js";
