// Shared helpers for the interop scripts: read all of stdin, write bytes to stdout.
import { readFileSync } from "node:fs";

export async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return new Uint8Array(Buffer.concat(chunks));
}

export function writeStdout(bytes) {
  return new Promise((resolve, reject) => {
    process.stdout.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (err) =>
      err ? reject(err) : resolve(),
    );
  });
}

// Identity files in age format: one identity per line, '#' comments and blank lines ignored.
export function readIdentityFile(path) {
  return readFileSync(path, "utf8")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
}

export function fail(msg) {
  process.stderr.write(`${msg}\n`);
  process.exit(2);
}
