"""Browser file encryption and decryption speed in Chromium (DESIGN.md §10, issue 14).

Run from the repository root (after the bundle is built, ``make bundle``)::

    .venv/bin/python bench/browser_files.py            # 64 MiB, 3 repetitions
    .venv/bin/python bench/browser_files.py --mib 16   # a smaller file
    .venv/bin/python bench/browser_files.py --profile  # and the page thread's profile

Serves static/dist from a local static server, opens it in Debian's Chromium
(Playwright) and times, on a File of random bytes made in the page:
- the upload path without the network: the encrypt worker (v2/files/encrypt-worker)
  answering 8 MiB ``slice`` requests over the whole file (File.slice reads, plaintext
  chunk hashes, ChaCha20-Poly1305, file_hash), as tus-js-client asks for them;
- the writer alone on the page's thread (AgeFileWriter.encryptChunk over 64 KiB chunks);
- the raw AEAD baseline: the same ChunkCipher.seal calls without layout or hashing
  (the WebAssembly ChaCha20-Poly1305 of static/js/crypto/aead.js, which the writer uses);
- decryption: StreamDecryptor over the ciphertext in 1 MiB pieces (hash included).
Prints one Markdown table; MB/s are 10^6 bytes of plaintext per second (median).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "static" / "dist"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench._common import launch_chromium, self_times, serve_directory  # noqa: E402

TARGET_MBPS = 200

RUN = """async ([filesUrl, workerUrl, integrity, mib, reps]) => {
  const f = await import(filesUrl);
  const size = mib * 1024 * 1024;
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  const file = new File([bytes], "bench.bin");
  const rows = {worker: [], writer: [], aead: [], decrypt: []};
  const slice = 8 * 1024 * 1024;
  for (let r = 0; r < reps; r++) {
    // Worker: the upload's encryption as tus-js-client drives it.
    f.setEncryptWorkerScript(workerUrl, integrity);
    const { openEncryptWorker } = f;
    let t = performance.now();
    const worker = await openEncryptWorker();
    const { length, identity } = await worker.call("start", { file, keyType: "x25519" });
    const pieces = [];
    for (let s = 0; s < length; s += slice) {
      const end = Math.min(s + slice, length);
      const { bytes: out } = await worker.call("slice", { start: s, end });
      pieces.push(out);
    }
    const { fileHash } = await worker.call("finish");
    rows.worker.push(performance.now() - t);
    worker.terminate();
    // Writer on this thread, and the bare AEAD on the same chunks.
    const { writer } = await f.AgeFileWriter.create("x25519", size);
    t = performance.now();
    for (let i = 0; i < writer.chunkCount; i++) {
      const [a, b] = writer.plaintextRange(i);
      writer.encryptChunk(i, bytes.subarray(a, b));
    }
    rows.writer.push(performance.now() - t);
    const cipher = new f.ChunkCipher(new Uint8Array(16), new Uint8Array(16), await f.loadAead());
    t = performance.now();
    for (let i = 0; i * 65536 < size; i++) {
      cipher.seal(i, bytes.subarray(i * 65536, (i + 1) * 65536), false);
    }
    rows.aead.push(performance.now() - t);
    // Decryption with the file hash check, from the worker's ciphertext.
    t = performance.now();
    const dec = new f.StreamDecryptor(identity, fromHex(fileHash), length);
    for (const piece of pieces) {
      for (let s = 0; s < piece.length; s += 1 << 20) {
        await dec.push(piece.subarray(s, s + (1 << 20)));
      }
    }
    dec.end();
    rows.decrypt.push(performance.now() - t);
  }
  return rows;
  function fromHex(h) { return Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16)); }
}"""


def measure(mib: int, reps: int, profile: bool = False) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    entries = json.loads((DIST / "manifest.json").read_text())["entries"]
    server = serve_directory(DIST)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page()
            page.goto(base + "/manifest.json")
            worker = entries["v2/files/encrypt-worker"]
            if profile:
                cdp = page.context.new_cdp_session(page)
                cdp.send("Profiler.enable")
                cdp.send("Profiler.setSamplingInterval", {"interval": 200})
                cdp.send("Profiler.start")
            rows = page.evaluate(RUN, [f"{base}/{entries['v2/files/index']['file']}",
                                       f"{base}/{worker['file']}", worker["integrity"], mib,
                                       reps])
            if profile:
                print("CPU profile of the page's thread over the whole run (self time; the "
                      "worker row's work runs in the Worker and shows here as idle):")
                print(self_times(cdp.send("Profiler.stop")["profile"]["nodes"]))
            browser.close()
    finally:
        server.shutdown()
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--profile", action="store_true",
                        help="print the page thread's CPU profile (sampling, self time)")
    args = parser.parse_args(argv)
    rows = measure(args.mib, args.reps, args.profile)
    mb = args.mib * 1024 * 1024 / 1e6
    speed = {k: mb / (statistics.median(v) / 1000) for k, v in rows.items()}
    aead = speed["aead"]
    print(f"| what ({args.mib} MiB, Chromium) | MB/s | vs raw WebAssembly AEAD (same chunks) "
          f"| goal | met? |")
    print("|---|---|---|---|---|")
    for key, label in [("worker", "upload encryption in the worker (8 MiB slices, hashes)"),
                       ("writer", "AgeFileWriter.encryptChunk on the page's thread"),
                       ("aead", "raw ChaCha20-Poly1305 (WebAssembly, aead.js), 64 KiB chunks"),
                       ("decrypt", "StreamDecryptor with file_hash, 1 MiB pieces")]:
        goal = f"≥ {TARGET_MBPS} MB/s" if key in ("worker", "decrypt") else "—"
        met = ("yes" if speed[key] >= TARGET_MBPS else "**no**") if goal != "—" else "—"
        print(f"| {label} | {speed[key]:,.0f} | {speed[key] / aead:.2f} | {goal} | {met} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
