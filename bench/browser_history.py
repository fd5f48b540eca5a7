"""Login to the first screen of decrypted history in Chromium (issue 13, must-show 6).

Run from the repository root (after ``make bundle``; needs Debian's /usr/bin/chromium)::

    .venv/bin/python bench/browser_history.py            # 5 runs, 50 messages
    .venv/bin/python bench/browser_history.py --quick    # 2 runs

One uvicorn as bench/browser_accounts.py starts it (throwaway SQLite, no Redis, the
production bundle and work factor). Setup (untimed): Alice and Bob signed up through the
client flow (``tests.support.v2chat``), a direct conversation Bob started with signed
operations and epochs, and MESSAGES text messages from Bob, each sealed and signed by
``client.messagebox``. Each run is a new browser context (a new device, nothing cached):
Alice submits the login form; the shell derives and unwraps her identity, mounts the
chat, lists the conversations; the bench clicks the conversation as soon as its button
appears. The chat fetches the chain, the epochs and the timeline, verifies every
signature and opens every box (it syncs the listed conversations as it starts, so most
of this work can fall before the click). Marks recorded in the page (form submit, data-state
changes, the button appearing, the click, the last message's text in the DOM) give the
parts; the total leaves out the bench's own reaction between the button appearing and
its click.

Prints the medians with the machine, date, command and load average.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bench.browser_accounts as accounts_bench  # noqa: E402 - its site, login and marks
from bench._common import launch_chromium, load_average, machine, utc_now  # noqa: E402

MESSAGES = 50
LAST_TEXT = f"history message {MESSAGES}"

# After MARKS (window.__bench): when the conversation's button appears, when it is clicked,
# and when the last message's text is in the timeline.
HISTORY_MARKS = """((lastText) => {
  const mark = (name) => window.__bench.push({ name, t: performance.now() });
  const seen = new Set();
  const once = (name, found) => { if (!seen.has(name) && found) { seen.add(name); mark(name); } };
  new MutationObserver(() => {
    once("listed", document.querySelector(".v2-open"));
    once("history", [...document.querySelectorAll(".v2-timeline .v2-message .text")]
      .some((e) => e.textContent === lastText));
  }).observe(document, { subtree: true, childList: true, characterData: true });
  document.addEventListener("click", (e) => {
    if (e.target.closest?.(".v2-open")) once("open", true);
  }, true);
})(%s);"""


def make_history() -> tuple[str, str, str]:
    """Alice's address and password, and the conversation Bob filled with MESSAGES."""
    from django.utils import timezone

    from accounts.models import User
    from tests.support.v2chat import PASSWORD, V2User, direct_of

    alice, bob = V2User.signup("alice"), V2User.signup("bob")
    User.objects.filter(pk__in=[alice.id, bob.id]).update(email_verified_at=timezone.now())
    group = direct_of(bob, alice)
    for i in range(1, MESSAGES + 1):
        r = group.send(bob, f"history message {i}")
        assert r.status_code == 201, r.content
    return alice.email, PASSWORD, group.hex


def one_run(browser, origin: str, email: str, password: str, conversation: str) -> dict:
    """Seconds of each part of one login to the last history message shown."""
    context = browser.new_context()
    context.set_default_timeout(accounts_bench.TIMEOUT_MS)
    context.add_init_script(accounts_bench.MARKS)
    context.add_init_script(HISTORY_MARKS % f'"{LAST_TEXT}"')
    page = context.new_page()
    try:
        accounts_bench.login(page, origin, email, password)
        page.locator(f'.v2-open[data-id="{conversation}"]').click()
        page.locator(".v2-timeline .v2-message .text").filter(
            has_text=LAST_TEXT).last.wait_for()  # a selector: the page's CSP forbids eval
        marks = accounts_bench.marks_of(page)
    finally:
        context.close()
    submit = marks.first("submit", form="v2-login-form")
    home = marks.first("state", submit, state="home")
    listed = marks.first("listed", submit)
    clicked = marks.first("open", listed)
    shown = marks.first("history", clicked)
    parts = {"login: submit → identity stored (home)": home - submit,
             "home → conversation listed": listed - home,
             "click → last of the messages shown (decrypted, verified)": shown - clicked,
             "total (leaving out the bench's click delay)": shown - submit - (clicked - listed)}
    return {k: v / 1000 for k, v in parts.items()}


def measure(origin: str, n_runs: int, email: str, password: str, conversation: str):
    from playwright.sync_api import sync_playwright

    runs = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        check = browser.new_page()
        check.goto(origin + "/")
        accounts_bench.check_bundle_floor(check, origin)
        check.close()
        for run in range(-1, n_runs):  # one unrecorded run first (caches)
            parts = one_run(browser, origin, email, password, conversation)
            if run >= 0:
                runs.append(parts)
                print(f"run {run + 1}/{n_runs}: {list(parts.values())[-1]:.2f} s",
                      file=sys.stderr, flush=True)
        version = browser.version
        browser.close()
    return runs, version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs instead of 5")
    parser.add_argument("--runs", type=int, help="browser runs (default 5, --quick 2)")
    args = parser.parse_args()
    n_runs = args.runs or (2 if args.quick else 5)
    command = shlex.join(["python", *sys.argv])
    started = utc_now()
    site = accounts_bench.BrowserSite(
        "securechat-bench-history-", ALLOWED_HOSTS="127.0.0.1,testserver",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
    factor = site.factor
    from django.conf import settings

    try:
        email, password, conversation = make_history()
        with site.serving():
            load_before = machine()
            runs, version = measure(site.origin, n_runs, email, password, conversation)
    finally:
        site.close()
    print(f"{started}; Chromium {version}; {load_before} (at the start), load average "
          f"{load_average()} (at the end)")
    print(f"Command: {command}; one uvicorn, SQLite, no Redis; production bundle, "
          f"SECURECHAT_CLIENT_WORK_FACTOR={factor}, key type {settings.SECURECHAT_KEY_TYPE}; "
          f"a direct conversation of {MESSAGES} text messages\n")
    print(f"| step (Chromium, a new device each run) | median s ({n_runs} runs) | min–max |")
    print("|---|---:|---|")
    for step in runs[0]:
        values = [r[step] for r in runs]
        name = f"**{step}**" if step.startswith("total") else step
        print(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f}–{max(values):.3f} |")
    total = statistics.median(r[list(r)[-1]] for r in runs)
    print(f"\nLogin to the first screen of decrypted history ({MESSAGES} messages): "
          f"{total:.2f} s")


if __name__ == "__main__":
    main()
