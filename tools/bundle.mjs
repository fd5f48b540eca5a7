// Builds the browser entry points of static/js/ into hash-named, SRI-pinned files
// (DESIGN.md §1, §2): `node tools/bundle.mjs OUTDIR` (the Makefile's `bundle` target).
// `--test` builds the test variant, whose only difference is a scrypt work-factor floor
// of 10 instead of 16 (DESIGN.md §3: only test builds may lower it); it is never served.
//
// Contract:
// - one self-contained ES module per entry (no code splitting), so every byte a page
//   runs is named by a <script integrity> the page carries;
// - output file names carry the first 16 hex digits of the file's SHA-256, and
//   OUTDIR/manifest.json maps each entry to {file, integrity (sha384), sha256, type};
// - reproducible: the same sources and package-lock give byte-identical output in any
//   directory on any machine (fixed options, sorted entries, paths relative to the
//   repository, no timestamps, no source maps);
// - OUTDIR is replaced as a whole (built beside it, then renamed), so a running server
//   never sees a manifest naming files that are not there yet.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

// Entry points (static/js/<entry>.js): page scripts, the crypto module and its workers;
// kept sorted so the build order never varies.
export const MODULE_ENTRIES = [
  "accounts/forms",
  "accounts/save-secret",
  // The WebAssembly AEAD (about 300 KB of it), imported by the file workers and kept out
  // of crypto/index so that pages that never touch a file do not carry it.
  "crypto/aead",
  "crypto/derive-worker",
  "crypto/index",
  "v2/chat/index",
  // The QR code reader (ZXing's WebAssembly, about a megabyte): loaded only to scan.
  "v2/chat/qr-reader",
  "v2/files/download-sw", // the download Service Worker, served at /dl/sw-<hash>.js
  "v2/files/encrypt-worker",
  "v2/files/index",
  // PDF.js (pdfjs-dist) for PDF previews: loaded only when a PDF is previewed.
  "v2/files/pdf-render",
  "v2/files/pdf-worker",
  "v2/app",
].sort();

// Classic scripts copied from node_modules (without their source-map comment, below)
// and pinned like the bundles.
export const COPIED_ENTRIES = {
  "vendor/tus": "node_modules/tus-js-client/dist/tus.min.js",
};

// Every option is spelled out: a default that changes between esbuild versions would
// otherwise change the bytes (the version itself is pinned in package-lock.json).
const ESBUILD_OPTIONS = {
  absWorkingDir: ROOT,
  bundle: true,
  splitting: false,
  format: "esm",
  platform: "browser",
  target: ["chrome120", "firefox121", "safari17"],
  minify: true,
  treeShaking: true,
  charset: "utf8",
  legalComments: "eof",
  sourcemap: false,
  metafile: false,
  write: false,
  logLevel: "warning",
  outdir: "out",
  define: { "process.env.NODE_ENV": '"production"' },
  // A module's WebAssembly travels inside its bundle (a Uint8Array), pinned with it.
  loader: { ".wasm": "binary" },
};
const WORK_FACTOR_FLOOR = { production: "16", test: "10" };

function digest(algorithm, bytes, encoding) {
  return createHash(algorithm).update(bytes).digest(encoding);
}

function pinned(entry, extension, bytes, type) {
  const sha256 = digest("sha256", bytes, "hex");
  return {
    entry,
    bytes,
    record: {
      file: `${entry}-${sha256.slice(0, 16)}${extension}`,
      integrity: `sha384-${digest("sha384", bytes, "base64")}`,
      sha256,
      type,
    },
  };
}

async function buildModules(variant) {
  const result = await esbuild.build({
    ...ESBUILD_OPTIONS,
    define: {
      ...ESBUILD_OPTIONS.define,
      __SECURECHAT_WORK_FACTOR_FLOOR__: WORK_FACTOR_FLOOR[variant],
    },
    entryPoints: MODULE_ENTRIES.map((entry) => ({ in: `static/js/${entry}.js`, out: entry })),
  });
  const byPath = new Map(result.outputFiles.map((file) => [file.path, file.contents]));
  return MODULE_ENTRIES.map((entry) => {
    const bytes = byPath.get(join(ROOT, "out", `${entry}.js`));
    if (!bytes) throw new Error(`esbuild produced no output for ${entry}`);
    return pinned(entry, ".js", bytes, "module");
  });
}

// Django's ManifestStaticFilesStorage (collectstatic in production) rewrites
// `sourceMappingURL` comments in .js files: that would change the pinned bytes (and fail
// on a map we do not ship), so copies lose theirs and no bundle may contain one.
const SOURCE_MAP_COMMENT = /\n\/\/# sourceMappingURL=[^\n]*\n?$/;

function copyClassics() {
  return Object.keys(COPIED_ENTRIES).sort().map((entry) => {
    const text = readFileSync(join(ROOT, COPIED_ENTRIES[entry]), "utf8");
    const bytes = Buffer.from(`${text.replace(SOURCE_MAP_COMMENT, "")}\n`, "utf8");
    return pinned(entry, ".min.js", bytes, "classic");
  });
}

function refuseSourceMapComments(outputs) {
  for (const { entry, bytes } of outputs) {
    if (Buffer.from(bytes).includes("sourceMappingURL")) {
      throw new Error(`${entry} mentions sourceMappingURL: collectstatic would rewrite it`);
    }
  }
}

function writeTree(directory, outputs) {
  const manifest = { version: 1, entries: {} };
  for (const { entry, bytes, record } of outputs) {
    const path = join(directory, record.file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
    manifest.entries[entry] = record;
  }
  writeFileSync(join(directory, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}

function replaceDirectory(target, outputs) {
  const staging = `${target}.new-${process.pid}`;
  const previous = `${target}.old-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  writeTree(staging, outputs);
  if (existsSync(target)) renameSync(target, previous);
  renameSync(staging, target);
  rmSync(previous, { recursive: true, force: true });
}

async function main(argv) {
  const variant = argv[0] === "--test" ? "test" : "production";
  const args = variant === "test" ? argv.slice(1) : argv;
  if (args.length !== 1) throw new Error("usage: node tools/bundle.mjs [--test] OUTDIR");
  const outdir = resolve(args[0]);
  const outputs = [...(await buildModules(variant)), ...copyClassics()];
  outputs.sort((a, b) => (a.entry < b.entry ? -1 : a.entry > b.entry ? 1 : 0));
  refuseSourceMapComments(outputs);
  replaceDirectory(outdir, outputs);
  for (const { record } of outputs) console.log(`${record.sha256}  ${record.file}`);
}

main(process.argv.slice(2)).catch((error) => {
  console.error(`bundle: ${error.message}`);
  process.exit(1);
});
