"""Browser file-crypto benchmark: the WebAssembly AEAD vs @noble/ciphers vs typage (issue 14).

Run from the repository root (needs node_modules and Debian's /usr/bin/chromium):

    .venv/bin/python bench/browser_crypto.py           # 64 MiB in 64 KiB chunks, 5 runs
    .venv/bin/python bench/browser_crypto.py --quick   # 16 MiB, 3 runs

In Chromium, on a page served with the site's CSP (settings.SECURE_CSP) and in a Worker
that page starts with startWorker (blob: URL, the page's CSP), each run seals and then
opens the data chunk by chunk with static/js/crypto/aead.js (libsodium WebAssembly) and
with npm @noble/ciphers (pure JS, the same calls), and age-encrypts and decrypts it in
one call with npm age-encryption (typage, pure JS). Prints a Markdown table of medians
(MB = 10^6 bytes) with the ratio to the WebAssembly AEAD in the same realm; the goal is
≥ 200 MB/s for the WebAssembly AEAD. A missed goal prints a CPU profile (CDP) of the
page's WebAssembly run after the table.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securechat.settings")
from bench._common import launch_chromium, machine, self_times, serve_directory  # noqa: E402

MiB = 1024 * 1024
GOAL_MB_S = 200
# The two pure-JS comparisons, bundled for the page (esbuild from node_modules).
EXTRA_ENTRY = ('export { chacha20poly1305 } from "@noble/ciphers/chacha.js";\n'
               'export * as age from "age-encryption";\n')


def site_policy() -> str:
    from django.conf import settings
    from django.utils.csp import build_policy

    return build_policy(settings.SECURE_CSP)


def build_site(root: Path) -> dict:
    """The production bundles under root/dist, the comparison bundle, harness and worker."""
    from tests.support.bundle import build

    manifest = build(root / "dist")
    subprocess.run([str(ROOT / "node_modules" / ".bin" / "esbuild"), "--bundle", "--format=esm",
                    "--platform=browser", "--minify", "--log-level=warning",
                    f"--outfile={root / 'extra.js'}"],
                   input=EXTRA_ENTRY, text=True, cwd=ROOT, check=True)
    for name in ("browser_crypto_harness", "browser_crypto_worker"):
        (root / f"{name}.js").write_bytes((ROOT / "bench" / f"{name}.mjs").read_bytes())
    (root / "page.html").write_text("<!doctype html><title>browser crypto bench</title>")
    return manifest


IN_PAGE = "([harness, options]) => import(harness).then((h) => h.run(options))"

IN_WORKER = """async ([index, integrity, harness, options]) => {
  const { startWorker } = await import(index);
  const worker = await startWorker("/browser_crypto_worker.js", integrity);
  const answer = await new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => resolve(data);
    worker.onerror = (e) => reject(new Error(`worker failed: ${e.message}`));
    worker.postMessage({ harness, options });
  });
  worker.terminate();
  if (answer.failed) throw new Error(answer.failed);
  return answer;
}"""


def measure(page, base: str, manifest: dict, root: Path, total: int, runs: int) -> dict:
    """{(realm, impl, direction): [MB/s per run]} for realm page/worker."""
    entries = manifest["entries"]
    options = {"aeadUrl": f"{base}/dist/{entries['crypto/aead']['file']}",
               "extraUrl": f"{base}/extra.js", "total": total, "chunk": 64 * 1024}
    harness = f"{base}/browser_crypto_harness.js"
    index = f"{base}/dist/{entries['crypto/index']['file']}"
    worker = (root / "browser_crypto_worker.js").read_bytes()
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(worker).digest()).decode()
    samples = collections.defaultdict(list)
    for run in range(runs):
        for realm in ("page", "worker"):
            if realm == "page":
                answer = page.evaluate(IN_PAGE, [harness, options])
            else:
                answer = page.evaluate(IN_WORKER, [index, integrity, harness, options])
            for impl, speeds in answer.items():
                for direction, value in speeds.items():
                    samples[(realm, impl, direction)].append(value)
        print(f"run {run + 1}/{runs} done", file=sys.stderr)
    return samples


LABELS = {"wasm": "WebAssembly AEAD (libsodium 0.8.4), 64 KiB chunks",
          "noble": "@noble/ciphers 2.4.0 chacha20poly1305, 64 KiB chunks",
          "typage": "typage 0.3.1 Encrypter/Decrypter, one call (age file, X25519)"}


def table(samples: dict, total: int, runs: int) -> tuple[str, bool]:
    lines = [f"| realm | implementation | direction "
             f"| median MB/s ({runs} runs, {total // MiB} MiB) | min–max "
             "| vs WebAssembly AEAD | goal | met? |",
             "|---|---|---|---:|---|---:|---|---|"]
    met_all = True
    for realm in ("page", "worker"):
        for impl in ("wasm", "noble", "typage"):
            for direction in ("seal", "open"):
                values = samples.get((realm, impl, direction))
                if not values:
                    continue
                median = statistics.median(values)
                base = statistics.median(samples[(realm, "wasm", direction)])
                goal, met = "—", "—"
                if impl == "wasm":
                    goal, met = f"≥ {GOAL_MB_S}", "yes" if median >= GOAL_MB_S else "**no**"
                    met_all &= median >= GOAL_MB_S
                word = {"seal": "encrypt", "open": "decrypt"}[direction]
                lines.append(f"| {realm} | {LABELS[impl]} | {word} | {median:,.0f} "
                             f"| {min(values):,.0f}–{max(values):,.0f} | {median / base:.2f} "
                             f"| {goal} | {met} |")
    return "\n".join(lines), met_all


def cpu_rates(page, base: str, manifest: dict, total: int, runs: int) -> dict:
    """{impl: median MB per CPU-second of the page's main thread} for seal + open of
    `total` bytes (CDP Performance ThreadTime: CPU time, so other processes' load on the
    machine does not count; the test data was made by the earlier runs, so neither does
    its generation)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})

    def thread_time() -> float:
        metrics = cdp.send("Performance.getMetrics")["metrics"]
        return next(m["value"] for m in metrics if m["name"] == "ThreadTime")

    entries = manifest["entries"]
    rates = {}
    for impl in ("wasm", "noble"):
        values = []
        for _ in range(runs):
            # The page made and kept the test data in the runs before (the harness's cache).
            before = thread_time()
            page.evaluate(IN_PAGE, [f"{base}/browser_crypto_harness.js", {
                "aeadUrl": f"{base}/dist/{entries['crypto/aead']['file']}",
                "extraUrl": f"{base}/extra.js", "total": total, "chunk": 64 * 1024,
                "only": [impl]}])
            values.append(2 * total / 1e6 / (thread_time() - before))
        rates[impl] = statistics.median(values)
    cdp.send("Performance.disable")
    return rates


def profile(page, base: str, manifest: dict, total: int) -> str:
    """Top self-time functions (CDP sampling profiler) of one WebAssembly run in the page."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 200})
    cdp.send("Profiler.start")
    entries = manifest["entries"]
    page.evaluate(IN_PAGE, [f"{base}/browser_crypto_harness.js", {
        "aeadUrl": f"{base}/dist/{entries['crypto/aead']['file']}",
        "extraUrl": f"{base}/extra.js", "total": total, "chunk": 64 * 1024, "only": ["wasm"]}])
    nodes = cdp.send("Profiler.stop")["profile"]["nodes"]
    return "CPU profile of the page's WebAssembly run (self time):\n" + self_times(nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 MiB, 3 runs")
    parser.add_argument("--profile", action="store_true", help="print the profile even if met")
    args = parser.parse_args()
    total, runs = (16 * MiB, 3) if args.quick else (64 * MiB, 5)

    import django
    from playwright.sync_api import sync_playwright

    django.setup()
    with tempfile.TemporaryDirectory(prefix="browser-crypto-bench-") as tmp:
        root = Path(tmp)
        manifest = build_site(root)
        server = serve_directory(root, {"Content-Security-Policy": site_policy()})
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page()
            page.goto(f"{base}/page.html")
            before = machine()
            samples = measure(page, base, manifest, root, total, runs)
            text, met = table(samples, total, runs)
            print(f"Chromium {browser.version}; {before}")
            print(text)
            rates = cpu_rates(page, base, manifest, total, runs)
            print()
            print("Per CPU-second of the page's main thread (seal + open, CDP ThreadTime): "
                  + ", ".join(f"{LABELS[i].split(',')[0]} {r:,.0f} MB/s" for i, r in rates.items()))
            if not met or args.profile:
                print()
                print(profile(page, base, manifest, total))
            browser.close()
        server.shutdown()


if __name__ == "__main__":
    main()
