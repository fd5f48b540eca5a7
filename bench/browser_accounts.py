"""Version 2 signup, login and reload in Chromium at the production work factor (issue 12).

Run from the repository root (after ``make bundle``; needs Debian's /usr/bin/chromium)::

    .venv/bin/python bench/browser_accounts.py            # 5 runs, 300 prelogins per kind
    .venv/bin/python bench/browser_accounts.py --quick    # 2 runs, 100 prelogins per kind

Starts one uvicorn (as bench/files.py does: throwaway SQLite, no Redis) serving the
production bundle from static/dist (work-factor floor 16, checked in the page) with
SECURECHAT_CLIENT_WORK_FACTOR at its production default from securechat/settings.py
(refused below 16). Only the prelogin rate limit is raised, so that the timing sample
below is not cut off by 429s (the limiter still runs on every request).

Each run, in a fresh browser context each (a new device), through the shell's forms:
- signup: submit → recovery code shown (#v2-app[data-state=recovery]), split into
  prelogin, key generation (recovery code and identity file), password derivation in
  the Worker (scrypt at the work factor), recipient and wrapping (identity under the
  derived passphrase, copy to the recovery code), upload (POST signup) and display;
- login (another new context): password submitted → identity unwrapped, checked against
  the directory and stored under the device key (#v2-app[data-state=home]), split the
  same way;
- reload: navigation start → signed in again from the device blob.
The parts come from marks an init script records in the page (form submit, fetch start
and end by path, derive Worker start and terminate, data-state changes), so Playwright's
polling adds nothing. Then, from Python (httpx, one keep-alive connection), prelogin for
existing and unknown addresses interleaved in random order: p50/p90/p99 of each and the
difference of the medians with a 95% bootstrap interval (an account's existence should
not show: the interval should contain 0).

Prints a Markdown table of medians with the machine, date and command, and the line
``Login (password submitted → identity stored): X s (goal <= 1.5)``. A missed goal (or
``--profile``) prints a CPU profile (CDP sampling profiler, self time) of one more login:
the page's thread and the derive Worker, where the scrypt runs.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import secrets
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    free_port,
    launch_chromium,
    load_average,
    machine,
    self_times,
    server_env,
    utc_now,
    uvicorn_serving,
)

PASSWORD = "a long enough benchmark passphrase 42"  # noqa: S105 - a throwaway account
PRODUCTION_FLOOR = 16  # the lowest work factor production settings and bundle accept
LOGIN_GOAL_S = 1.5
TIMEOUT_MS = 120_000

# Recorded in every page before its scripts run; read back as window.__bench.
MARKS = """(() => {
  const marks = [];
  window.__bench = marks;
  const mark = (name, extra = {}) => marks.push({ name, t: performance.now(), ...extra });
  const fetchOriginal = window.fetch;
  window.fetch = async function (input, init) {
    const request = input instanceof Request ? input : null;
    const url = new URL(request ? request.url : String(input), location.href);
    const method = init?.method ?? request?.method ?? "GET";
    mark("fetch-start", { path: url.pathname, method });
    try {
      return await fetchOriginal.call(this, input, init);
    } finally {
      mark("fetch-end", { path: url.pathname, method });
    }
  };
  const WorkerOriginal = window.Worker;
  window.Worker = class extends WorkerOriginal {
    constructor(url, options) {
      super(url, options);
      this.benchName = options?.name ?? "";
      mark("worker-start", { worker: this.benchName });
    }
    terminate() {
      mark("worker-end", { worker: this.benchName });
      // The profiling run keeps the Worker a moment longer, so its profile can be taken.
      if (window.benchKeepWorkers) setTimeout(() => super.terminate(), 3000);
      else super.terminate();
    }
  };
  document.addEventListener("submit", (e) => mark("submit", { form: e.target.id }), true);
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.id === "v2-app") mark("state", { state: r.target.dataset.state });
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
})();"""

FLOOR_JS = "(url) => import(url).then((c) => c.WORK_FACTOR_FLOOR)"


class Marks:
    """The page's marks, looked up by what happened (times in ms since navigation start)."""

    def __init__(self, marks: list[dict]):
        self.marks = marks

    def first(self, name: str, after: float = 0, **match) -> float:
        for m in self.marks:
            if m["name"] == name and m["t"] >= after and all(
                    match[k] in str(m.get(k, "")) for k in match):
                return m["t"]
        raise SystemExit(f"no {name} {match} after {after:.0f} ms in the page's marks: "
                         f"{self.marks}")


def parts(marks: Marks, kind: str) -> dict[str, float]:
    """Seconds of each step of a signup or login, from submit to the state it ends in."""
    submit = marks.first("submit", form=f"v2-{kind}-form")
    prelogin = marks.first("fetch-end", submit, path="/api/v1/auth/prelogin")
    derive_start = marks.first("fetch-start", prelogin, path="derive-worker")
    derive_end = marks.first("worker-end", derive_start, worker="securechat-derive")
    out = {"prelogin (CSRF + POST prelogin)": prelogin - submit}
    if kind == "signup":
        post = marks.first("fetch-start", derive_end, path="/api/v1/auth/signup")
        posted = marks.first("fetch-end", post, path="/api/v1/auth/signup")
        done = marks.first("state", posted, state="recovery")
        out |= {"key generation (recovery code, identity file)": derive_start - prelogin,
                "password derivation (Worker, scrypt)": derive_end - derive_start,
                "recipient + wrapping (passphrase, recovery code)": post - derive_end,
                "upload (POST signup)": posted - post,
                "recovery code shown": done - posted}
    else:
        post = marks.first("fetch-start", derive_end, path="/api/v1/auth/login")
        posted = marks.first("fetch-end", post, path="/api/v1/auth/login")
        fetch = marks.first("fetch-start", posted, path="/api/v1/me/wrapped-identity")
        fetched = marks.first("fetch-end", fetch, path="/api/v1/me/wrapped-identity")
        me = marks.first("fetch-start", fetched, path="/api/v1/me")
        done = marks.first("state", me, state="home")
        out |= {"password derivation (Worker, scrypt)": derive_end - prelogin,
                "POST login": posted - derive_end,
                "GET wrapped identity": fetched - posted,
                "unwrap + directory self-check": me - fetched,
                "GET me + device key, store blob": done - me}
    out["total"] = (done - submit)
    return {k: v / 1000 for k, v in out.items()}


def marks_of(page) -> Marks:
    return Marks(page.evaluate("window.__bench"))


def open_shell(page, origin: str) -> None:
    page.goto(origin + "/")
    page.wait_for_selector("#v2-app:not([data-state=loading])", state="attached")


def signup(context, origin: str, email: str) -> dict[str, float]:
    page = context.new_page()
    open_shell(page, origin)
    page.locator("#v2-login").get_by_role("button", name="Sign up").click()
    page.fill("#v2-signup-email", email)
    page.fill("#v2-signup-password", PASSWORD)
    page.fill("#v2-signup-confirm", PASSWORD)
    page.locator("#v2-signup-form").get_by_role("button", name="Sign up").click()
    page.wait_for_selector("#v2-app[data-state=recovery]", state="attached")
    result = parts(marks_of(page), "signup")
    page.get_by_label("I saved my recovery code").check()
    page.locator("#v2-recovery").get_by_role("button", name="Continue").click()
    page.wait_for_selector("#v2-app[data-state=home]", state="attached")
    page.close()
    return result


def login(page, origin: str, email: str, password: str = PASSWORD) -> dict[str, float]:
    open_shell(page, origin)
    page.fill("#v2-login-email", email)
    page.fill("#v2-login-password", password)
    page.locator("#v2-login-form").get_by_role("button", name="Log in").click()
    page.wait_for_selector("#v2-app[data-state=home]", state="attached")
    return parts(marks_of(page), "login")


def reload(page) -> dict[str, float]:
    page.reload()
    page.wait_for_selector("#v2-app[data-state=home]", state="attached")
    marks = marks_of(page)
    if any(m.get("state") == "login" for m in marks.marks):
        raise SystemExit("the reload asked for the password again")
    me = marks.first("fetch-start", path="/api/v1/me")
    done = marks.first("state", me, state="home")
    return {"total": done / 1000,
            "GET me + device key, open blob": (done - me) / 1000}


class WorkerProfiler:
    """CDP sampling profiles of the page's dedicated Workers: auto-attached (not flattened,
    so Playwright's CDP session can talk to them through Target.sendMessageToTarget),
    each profiled from its first instruction until ``stop``."""

    def __init__(self, page):
        self.page = page
        self.cdp = page.context.new_cdp_session(page)
        self.workers: dict[str, str] = {}  # session id -> the Worker's name (title)
        self.replies: dict[int, dict] = {}
        self.next_id = 1000
        self.cdp.on("Target.attachedToTarget", self._attached)
        self.cdp.on("Target.receivedMessageFromTarget", self._received)
        self.cdp.send("Target.setAutoAttach", {"autoAttach": True,
                                               "waitForDebuggerOnStart": True, "flatten": False})

    def _send(self, session: str, method: str, params: dict | None = None) -> int:
        self.next_id += 1
        self.cdp.send("Target.sendMessageToTarget", {"sessionId": session, "message": json.dumps(
            {"id": self.next_id, "method": method, "params": params or {}})})
        return self.next_id

    def _attached(self, event: dict) -> None:
        session = event["sessionId"]
        self.workers[session] = event["targetInfo"].get("title") or event["targetInfo"]["url"]
        self._send(session, "Profiler.enable")
        self._send(session, "Profiler.setSamplingInterval", {"interval": 200})
        self._send(session, "Profiler.start")
        self._send(session, "Runtime.runIfWaitingForDebugger")

    def _received(self, event: dict) -> None:
        message = json.loads(event["message"])
        if "id" in message:
            self.replies[message["id"]] = message

    def stop(self) -> dict[str, list[dict]]:
        """{worker name: profile nodes} of every Worker still alive."""
        asked = {self._send(session, "Profiler.stop"): name
                 for session, name in self.workers.items()}
        deadline = time.monotonic() + 10
        while not asked.keys() <= self.replies.keys() and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)
        return {name: self.replies[i]["result"]["profile"]["nodes"] for i, name in asked.items()
                if "result" in self.replies.get(i, {})}


def profile_login(context, origin: str, email: str) -> str:
    """Top self-time functions (CDP sampling profiler) of one login: the page's thread and
    each Worker it started (the derive Worker runs the scrypt)."""
    context.add_init_script("window.benchKeepWorkers = true;")
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 200})
    open_shell(page, origin)
    workers = WorkerProfiler(page)
    cdp.send("Profiler.start")
    took = login(page, origin, email)
    nodes = cdp.send("Profiler.stop")["profile"]["nodes"]
    sections = [f"CPU profile of one login ({took['total']:.2f} s), self time (each Worker "
                "is kept 3 s after its work for its profile: its idle share is inflated).",
                f"Page thread {self_times(nodes)}"]
    for name, worker_nodes in workers.stop().items():
        sections.append(f"Worker {name!r} {self_times(worker_nodes)}")
    return "\n\n".join(sections)


def prelogin_timing(origin: str, existing: list[str], count: int) -> dict[str, list[float]]:
    """Seconds per POST /api/v1/auth/prelogin for existing and unknown addresses,
    interleaved in random order on one connection (after 20 unrecorded of each)."""
    import httpx

    samples: dict[str, list[float]] = {"existing": [], "unknown": []}
    with httpx.Client(base_url=origin, timeout=30, headers={"Origin": origin}) as client:
        token = client.get("/api/v1/csrf").json()["csrf_token"]
        client.headers["X-CSRFToken"] = token
        order = [kind for _ in range(count + 20) for kind in samples]
        random.shuffle(order)
        seen = collections.Counter()
        for kind in order:
            email = (random.choice(existing) if kind == "existing"
                     else f"nobody-{secrets.token_hex(6)}@example.org")
            start = time.perf_counter()
            answer = client.post("/api/v1/auth/prelogin", json={"email": email})
            took = time.perf_counter() - start
            answer.raise_for_status()
            seen[kind] += 1
            if seen[kind] > 20:
                samples[kind].append(took)
    return samples


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def bootstrap_interval(a: list[float], b: list[float], rounds: int = 2000) -> tuple[float, float]:
    """95% interval of median(a) − median(b) over resamples (with replacement) of each."""
    rng = random.Random(12)
    diffs = sorted(statistics.median(rng.choices(a, k=len(a)))
                   - statistics.median(rng.choices(b, k=len(b))) for _ in range(rounds))
    return diffs[int(0.025 * rounds)], diffs[int(0.975 * rounds) - 1]


def print_table(runs: dict[str, list[dict[str, float]]], prelogins: dict[str, list[float]],
                work_factor: int, n_runs: int) -> float:
    print(f"| flow (Chromium, work factor 2^{work_factor}) | step "
          f"| median s ({n_runs} runs) | min–max |")
    print("|---|---|---:|---|")
    for flow, label in (("signup", "signup: submit → recovery code shown"),
                        ("login", "login: password submitted → identity stored"),
                        ("reload", "reload: navigation start → signed in (device blob)")):
        for step in runs[flow][0]:
            values = [r[step] for r in runs[flow]]
            name = f"**{step}**" if step.startswith("total") else step
            print(f"| {label} | {name} | {statistics.median(values):.3f} "
                  f"| {min(values):.3f}–{max(values):.3f} |")
    print()
    count = len(prelogins["existing"])
    print(f"| POST /api/v1/auth/prelogin ({count} each, interleaved, httpx) "
          "| p50 ms | p90 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for kind in ("existing", "unknown"):
        values = prelogins[kind]
        print(f"| {kind} address | {quantile(values, .5) * 1e3:.2f} "
              f"| {quantile(values, .9) * 1e3:.2f} | {quantile(values, .99) * 1e3:.2f} |")
    diff = statistics.median(prelogins["existing"]) - statistics.median(prelogins["unknown"])
    low, high = bootstrap_interval(prelogins["existing"], prelogins["unknown"])
    verdict = "within noise" if low <= 0 <= high else "**outside noise**"
    print()
    print(f"Prelogin difference of medians (existing − unknown): {diff * 1e3:+.3f} ms, 95% "
          f"bootstrap interval {low * 1e3:+.3f} to {high * 1e3:+.3f} ms: {verdict}")
    login_s = statistics.median(r["total"] for r in runs["login"])
    print()
    print(f"Login (password submitted → identity stored): {login_s:.2f} s "
          f"(goal <= {LOGIN_GOAL_S})")
    return login_s


def production_work_factor(env: dict[str, str]) -> int:
    """SECURECHAT_CLIENT_WORK_FACTOR as the production settings give it (the default unless
    the environment sets one); refused below the production floor."""
    os.environ.update(env)
    import django
    from django.conf import settings

    django.setup()
    factor = settings.SECURECHAT_CLIENT_WORK_FACTOR
    if factor < PRODUCTION_FLOOR:
        raise SystemExit(f"SECURECHAT_CLIENT_WORK_FACTOR={factor} is below production's "
                         f"floor {PRODUCTION_FLOOR}: this benchmark measures production")
    return factor


class BrowserSite:
    """The throwaway site a browser bench measures: its SQLite database migrated in this
    process (so the bench can seed it), production's client work factor, and ``serving()``
    the uvicorn around the timed part; ``close()`` removes its files."""

    def __init__(self, prefix: str, **extra: str):
        self.work = Path(tempfile.mkdtemp(prefix=prefix))
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.env = server_env(self.work, self.origin, **extra)
        self.factor = production_work_factor(self.env)
        self.env["SECURECHAT_CLIENT_WORK_FACTOR"] = str(self.factor)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)

    def serving(self):
        return uvicorn_serving(self.work, self.port, self.env)

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def check_bundle_floor(page, origin: str) -> None:
    entries = json.loads((ROOT / "static" / "dist" / "manifest.json").read_text())["entries"]
    floor = page.evaluate(FLOOR_JS, f"{origin}/static/dist/{entries['crypto/index']['file']}")
    if floor != PRODUCTION_FLOOR:
        raise SystemExit(f"static/dist is not the production bundle (work-factor floor {floor}):"
                         " run `make bundle`")


def measure(origin: str, n_runs: int, profile: bool) -> tuple[dict, list[str], str | None, str]:
    """{flow: [parts per run]}, the accounts made, the profile (or None), Chromium's version."""
    from playwright.sync_api import sync_playwright

    runs: dict[str, list[dict[str, float]]] = {"signup": [], "login": [], "reload": []}
    emails = []
    profile_text = None
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)

        def context():
            made = browser.new_context()
            made.set_default_timeout(TIMEOUT_MS)
            made.add_init_script(MARKS)
            return made

        first = context()
        check = first.new_page()
        check.goto(origin + "/")
        check_bundle_floor(check, origin)
        first.close()
        # One unrecorded signup and login first (the server's and Chromium's caches).
        for run in range(-1, n_runs):
            email = f"bench-{run + 1}-{secrets.token_hex(4)}@example.org"
            device = context()
            signed_up = signup(device, origin, email)
            device.close()
            device = context()
            page = device.new_page()
            logged_in = login(page, origin, email)
            reloaded = reload(page)
            device.close()
            emails.append(email)
            if run < 0:
                continue
            runs["signup"].append(signed_up)
            runs["login"].append(logged_in)
            runs["reload"].append(reloaded)
            print(f"run {run + 1}/{n_runs}: signup {signed_up['total']:.2f} s, login "
                  f"{logged_in['total']:.2f} s, reload {reloaded['total']:.2f} s",
                  file=sys.stderr, flush=True)
        login_s = statistics.median(r["total"] for r in runs["login"])
        if profile or login_s > LOGIN_GOAL_S:
            device = context()
            profile_text = profile_login(device, origin, emails[0])
            device.close()
        version = browser.version
        browser.close()
    return runs, emails, profile_text, version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs, 100 prelogins per kind")
    parser.add_argument("--runs", type=int, help="browser runs (default 5, --quick 2)")
    parser.add_argument("--prelogins", type=int, help="prelogins per kind (300, --quick 100)")
    parser.add_argument("--profile", action="store_true", help="print the profile even if met")
    args = parser.parse_args()
    n_runs = args.runs or (2 if args.quick else 5)
    n_prelogins = args.prelogins or (100 if args.quick else 300)
    command = shlex.join(["python", *sys.argv])
    started = utc_now()
    site = BrowserSite("securechat-bench-accounts-",
                       SECURECHAT_RATE_PRELOGIN_ADDRESS="1000000/300")
    factor = site.factor
    from django.conf import settings

    try:
        with site.serving():
            load_before = machine()
            runs, emails, profile_text, version = measure(site.origin, n_runs, args.profile)
            prelogins = prelogin_timing(site.origin, emails, n_prelogins)
    finally:
        site.close()
    print(f"{started}; Chromium {version}; {load_before} (at the start), "
          f"load average {load_average()} (at the end)")
    print(f"Command: {command}; one uvicorn, SQLite, no Redis; production bundle "
          f"(floor {PRODUCTION_FLOOR}), SECURECHAT_CLIENT_WORK_FACTOR={factor}, key type "
          f"{settings.SECURECHAT_KEY_TYPE}")
    print()
    login_s = print_table(runs, prelogins, factor, n_runs)
    if profile_text:
        print()
        print(profile_text)
    if login_s > LOGIN_GOAL_S:
        print(f"\nThe login goal (<= {LOGIN_GOAL_S} s) is missed.")


if __name__ == "__main__":
    main()
