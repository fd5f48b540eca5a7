"""Issue 12, must-show 5: every script a page runs is pinned (DESIGN.md §1).

A crawl of the pages reachable without an account and then as a signed-up user
with two-factor (the in-place steps included) checks, on every document: each
``<script>`` and ``<link rel=modulepreload>`` has a ``src``/``href`` on the site
and an ``integrity`` equal to the sha384 of the bytes the server serves; every
script the browser requested is one of those; and no ``securitypolicyviolation``
fired (a listener installed before any page script runs reports each one).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import urldefrag, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser import flows

pytestmark = [pytest.mark.browser]

# Installed before every document's own scripts: reports each CSP violation to Python.
VIOLATION_LISTENER = """
window.addEventListener("securitypolicyviolation", (event) => {
  window.__securechatViolation({
    page: location.href, directive: event.violatedDirective,
    blocked: event.blockedURI, sample: event.sample,
  });
}, true);
"""

# Data blocks (<script type="application/json">) are never run, so they need no pin.
PINNABLE = """() => [...document.querySelectorAll('script, link[rel="modulepreload"]')]
  .filter((el) => el.tagName === "LINK" || ["", "module", "text/javascript",
    "application/javascript"].includes((el.getAttribute("type") ?? "").toLowerCase()))
  .map((el) => ({
    tag: el.tagName.toLowerCase(),
    url: el.tagName === "LINK" ? el.href : el.src,
    integrity: el.getAttribute("integrity"),
  }))"""

ANONYMOUS_SEEDS = ["/", "/login/", "/signup/", "/password-reset/", "/about/",
                   "/verify-email/resend/", "/admin/login/", "/v2/"]
SIGNED_IN_SEEDS = ["/", "/me/", "/account/two-factor/", "/account/backup-codes/"]
# Links that end the session or act on it; a GET changes nothing, but logging out would
# end the crawl of the signed-in pages.
SKIP = re.compile(r"/(static|api|logout)/|/verify-email/.+|/password-reset/.+/")
MAX_PAGES = 40
ADMIN_PAGES = 25


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


class PinCheck:
    """Records problems across the documents of one browser context."""

    def __init__(self, page, server):
        self.page, self.origin = page, server.url
        self.problems: list[str] = []
        self.violations: list[dict] = []
        self.pinned: set[str] = set()
        self.requested: set[str] = set()
        self.pages: list[str] = []
        page.context.expose_function("__securechatViolation",
                                     lambda report: self.violations.append(report))
        page.context.add_init_script(VIOLATION_LISTENER)
        page.on("request", lambda r: r.resource_type == "script" and self.requested.add(r.url))

    def check_document(self) -> None:
        """Every script and modulepreload of the current document is on the site and
        pinned to the bytes the server serves."""
        self.pages.append(self.page.url)
        for element in self.page.evaluate(PINNABLE):
            where = f"{self.page.url}: <{element['tag']}> {element['url'] or '(inline)'}"
            if not element["url"] or not element["url"].startswith(self.origin + "/"):
                self.problems.append(f"{where} is not a file of the site")
                continue
            if not element["integrity"]:
                self.problems.append(f"{where} has no integrity")
                continue
            response = self.page.request.get(element["url"])
            served = sri(response.body()) if response.ok else f"HTTP {response.status}"
            if element["integrity"] != served:
                self.problems.append(f"{where}: integrity {element['integrity']} != {served}")
            self.pinned.add(element["url"])

    def visit(self, path: str) -> list[str]:
        """Loads ``path``, checks it, returns the same-site links to crawl next."""
        self.page.goto(path, wait_until="load")
        self.check_document()
        links = self.page.evaluate("() => [...document.querySelectorAll('a[href]')]"
                                   ".map((a) => a.href)")
        return [urldefrag(link).url for link in links if link.startswith(self.origin + "/")]

    def crawl(self, seeds: list[str], limit: int = MAX_PAGES, under: str = "/") -> None:
        # One visit per path: query variants (sorting, filters) render the same scripts.
        queue, seen = [self.origin + s for s in seeds], set()
        while queue and len(seen) < limit:
            url = queue.pop(0)
            path = urlsplit(url).path
            if path in seen or SKIP.search(path) or not path.startswith(under):
                continue
            seen.add(path)
            queue.extend(self.visit(url))

    def assert_clean(self) -> None:
        unpinned = sorted(self.requested - self.pinned)
        assert self.problems == []
        assert unpinned == [], "scripts loaded that no page pinned"
        assert self.violations == []


def test_every_script_on_every_page_is_pinned_and_no_csp_violation(start_server, new_page):
    server = start_server("uvicorn")
    anonymous = PinCheck(new_page(server), server)
    anonymous.crawl(ANONYMOUS_SEEDS)
    assert len(anonymous.pages) >= len(ANONYMOUS_SEEDS) - 1
    anonymous.assert_clean()

    page = new_page(server)
    check = PinCheck(page, server)
    email = "pinned@example.com"
    flows.signup(page, email)  # the recovery-code step is swapped in place by forms.js
    check.check_document()
    flows.verify_email(page, server, email)
    flows.enable_totp(page)  # backup codes swapped in place: save-secret.js is added
    check.check_document()
    from tests.support.accounts import make_user

    contact = make_user("contact@example.com", password=flows.PASSWORD)
    page.goto("/")
    conversation = flows.open_chat(page, contact.email)
    check.crawl([*SIGNED_IN_SEEDS, f"/c/{conversation}/"])
    assert any("/me/" in url for url in check.pages)
    expect(page.locator("body")).to_be_visible()
    check.assert_clean()
    assert any(re.search(r"/c/\d+/$", url) for url in check.pages)
    assert {urlsplit(url).path.split("/")[3] for url in check.pinned} == {
        "accounts", "chat", "vendor"}, "the crawl missed a kind of page script"
    assert page.errors == []


def test_the_probes_see_a_violation_and_a_wrong_integrity(start_server, new_page):
    """Positive controls: an inline script is reported as a CSP violation; a script whose
    integrity does not match is refused by the browser and flagged by the check."""
    server = start_server("uvicorn")
    page = new_page(server)
    check = PinCheck(page, server)
    check.visit("/login/")
    page.evaluate("""() => { const s = document.createElement("script");
                             s.textContent = "window.__ran = 1"; document.body.append(s); }""")
    for _ in range(50):  # the report crosses from the page to Python asynchronously
        if check.violations:
            break
        page.wait_for_timeout(100)
    assert check.violations and check.violations[0]["directive"].startswith("script-src")
    assert page.evaluate("window.__ran") is None

    forms = page.locator("script[type=module]").first.get_attribute("src")
    refused = page.evaluate("""(src) => new Promise((resolve) => {
        const s = document.createElement("script");
        s.type = "module"; s.src = src + "?tampered"; s.crossOrigin = "anonymous";
        s.integrity = "sha384-" + "A".repeat(64);
        s.onload = () => resolve(false); s.onerror = () => resolve(true);
        document.body.append(s); })""", forms)
    assert refused is True
    check.check_document()
    assert any("integrity" in problem for problem in check.problems)


WORKER_RUN = """async ([crypto, worker, integrity]) => {
  const c = await import(crypto);
  const params = {email: "w@example.com", accountSalt: new Uint8Array(16).fill(7),
                  password: "correct horse battery staple", workFactor: 16};
  const progress = [];
  const started = await c.startWorker(worker, integrity);
  const inWorker = await c.deriveKeysInWorker(started, params,
                                              {onProgress: (p) => progress.push(p)});
  started.terminate();
  const here = await c.deriveKeys(params);
  let refused = null;
  try {
    await c.startWorker(worker, "sha384-" + "A".repeat(64));
  } catch (error) {
    refused = {name: error.name, typed: error instanceof c.CryptoError};
  }
  return {same: c.toHex(inWorker.master) === c.toHex(here.master)
                && inWorker.passphrase === here.passphrase,
          progress: progress.length, last: progress.at(-1), refused};
}"""


def test_a_worker_runs_only_its_pinned_bytes_under_the_site_csp(start_server, new_page):
    """startWorker fetches the derivation worker with its manifest integrity and runs it
    from a blob: URL under the site's CSP (worker-src blob:): it derives the same keys
    as the page, with progress; a wrong integrity is refused with the typed error."""
    from tests.support.bundle import BUNDLE_DIR

    entries = json.loads((BUNDLE_DIR / "manifest.json").read_text())["entries"]
    server = start_server("uvicorn")
    page = new_page(server)
    check = PinCheck(page, server)
    check.visit("/login/")
    result = page.evaluate(WORKER_RUN, [
        f"/static/dist/{entries['crypto/index']['file']}",
        f"/static/dist/{entries['crypto/derive-worker']['file']}",
        entries["crypto/derive-worker"]["integrity"]])
    assert result == {"same": True, "progress": result["progress"], "last": 1,
                      "refused": {"name": "WorkerIntegrityError", "typed": True}}
    assert result["progress"] > 1
    assert check.violations == []


def test_the_admin_pages_pin_their_scripts_too(start_server, new_page, redis_url):
    """Django's admin renders its own script tags (static files, widget media, the jsi18n
    catalog); securechat/sri.py pins them. A staff user with two-factor crawls it."""

    from accounts.models import User
    from tests.accounts import clear_rate_limits, enrol_totp
    from tests.support.accounts import login_admin, make_user

    clear_rate_limits()
    staff = make_user("operator@example.com")
    User.objects.filter(pk=staff.user.pk).update(is_staff=True, is_superuser=True)
    make_user("someone@example.com")  # a row to list and open
    device, _ = enrol_totp(staff.user)
    client = login_admin(staff, device)  # the site's login with a code
    server = start_server("uvicorn")
    page = new_page(server)
    page.context.add_cookies([{"name": name, "value": morsel.value, "url": server.url}
                              for name, morsel in client.cookies.items()])
    check = PinCheck(page, server)
    check.crawl(["/admin/", "/admin/accounts/user/"], limit=ADMIN_PAGES, under="/admin/")
    assert any(re.search(r"/admin/accounts/user/\d+/change/$", url) for url in check.pages)
    assert any("jsi18n" in url for url in check.pinned), "no page loaded the catalog"
    check.assert_clean()
