"""Issue 12, must-show 5: every script a page runs is pinned (DESIGN.md §1).

A crawl of the pages reachable without an account, then as a signed-in user with
two-factor (the shell's in-place steps and an open conversation included), checks on
every document: each ``<script>`` and ``<link rel=modulepreload>`` has a
``src``/``href`` on the site and an ``integrity`` equal to the sha384 of the bytes the
server serves; every script the browser requested is one of those; and no
``securitypolicyviolation`` fired (a listener installed before any page script runs
reports each one). The shell (templates/v2/app.html) routes on the client, so a
document is checked again after each in-place step: a script added later must be
pinned too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import urldefrag, urlsplit

import pytest
from playwright.sync_api import expect

from tests.accounts import clear_rate_limits, enrol_totp
from tests.browser.flows import wait_for_link
from tests.browser.test_v2_accounts import browser_login
from tests.browser.test_v2_chat import send, signup
from tests.support.bundle import build

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
                   "/verify-email/pending/", "/admin/login/", "/v2/"]
SIGNED_IN_SEEDS = ["/", "/me/"]
# Links that end the session or act on it (a GET changes nothing, but logging out would
# end the crawl of the signed-in pages), and the reset links' pages (the shell's routes,
# checked as /password-reset/).
SKIP = re.compile(r"/(static|api|logout)/|/password-reset/.+/")
# A file of the served or the test build: static/<dir>/<entry>-<sha256[:16]>[.min].js
BUNDLE_FILE = re.compile(r"^/static/(?:dist|test-bundle)/(.+)-([0-9a-f]{16})(?:\.min)?\.js$")
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
        self.fetched: set[str] = set()  # bundle files read by fetch(): the workers' sources
        page.on("request", self.on_request)

    def on_request(self, request) -> None:
        if request.resource_type == "script":
            self.requested.add(request.url)
        elif BUNDLE_FILE.match(urlsplit(request.url).path) and request.url.startswith(
                self.origin + "/"):
            self.fetched.add(request.url)

    def check_worker_sources(self) -> int:
        """Workers run from blob: URLs made of bytes the page fetched with the manifest's
        integrity (crypto/index.js startWorker; its refusal of other bytes is the worker
        test below). Here: each bundle file fetched is the content its name pins (the
        hash in a bundle file's name is the sha256 of its bytes: tools/bundle.mjs).
        Returns how many such sources the page fetched."""
        for url in sorted(self.fetched):
            response = self.page.request.get(url)
            named = BUNDLE_FILE.match(urlsplit(url).path).group(2)
            if not response.ok or hashlib.sha256(response.body()).hexdigest()[:16] != named:
                self.problems.append(f"{url}: its bytes are not the ones its name pins")
        return len(self.fetched)

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
        blobs = {url for url in self.requested if url.startswith("blob:")}
        assert len(blobs) <= self.check_worker_sources() * len(self.pages), \
            "a blob: script that no fetched bundle file can account for"
        unpinned = sorted(self.requested - self.pinned - blobs)
        assert self.problems == []
        assert unpinned == [], "scripts loaded that no page pinned"
        assert self.violations == []


def test_every_script_on_every_page_is_pinned_and_no_csp_violation(start_shared_server,
                                                                     start_server, new_page,
                                                                     tmp_path):
    """Signed out on the served bundles; signed in on the test build (its work-factor
    floor lets the shell open an account made here by the client flow), which the
    server pins the same way."""
    server = start_shared_server("uvicorn")
    clear_rate_limits()
    signup(server, "unverified")  # the emailed link's page (a GET only shows the button)
    verify_link = urlsplit(wait_for_link(server, "unverified-", "/verify-email/")).path
    anonymous = PinCheck(new_page(server), server)
    anonymous.crawl([*ANONYMOUS_SEEDS, verify_link])
    assert len(anonymous.pages) >= len(ANONYMOUS_SEEDS)
    assert verify_link in {urlsplit(url).path for url in anonymous.pages}
    assert any("next=%2Fadmin" in url for url in anonymous.pages)  # /admin/login/, redirected
    anonymous.assert_clean()
    assert {"v2/app", "accounts/forms"} <= entries_of(anonymous.pinned), \
        "the crawl missed the shell or a server-rendered page"

    build(tmp_path / "bundle", test_variant=True)
    server = start_server("uvicorn", SECURECHAT_TEST_BUNDLE_DIR=str(tmp_path / "bundle"))
    user, contact = signup(server, "pinned"), signup(server, "contact")
    device, _ = enrol_totp(user.user)
    page = new_page(server)
    check = PinCheck(page, server)
    browser_login(page, user.email, code_for=device)  # the code step is swapped in place
    expect(page.locator("#v2-home-email")).to_have_text(user.email)
    check.check_document()
    check.crawl(SIGNED_IN_SEEDS)
    assert any(urlsplit(url).path == "/me/" for url in check.pages)

    page.goto("/")  # a conversation open, a message and a file sent (the encrypt worker)
    expect(page.locator(".v2-status")).to_have_text("Connected")
    page.get_by_label("Email address(es), separated by commas").fill(contact.email)
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator(".v2-conversation")).to_be_visible()
    send(page, "pinned code only")
    page.get_by_label("Attach a file (or drop files on the conversation)").set_input_files(
        files=[{"name": "a.txt", "mimeType": "text/plain", "buffer": b"a file"}])
    expect(page.locator(".v2-message.mine.sent .file-name")).to_have_text(["a.txt"])
    check.check_document()
    check.assert_clean()
    assert "v2/app" in entries_of(check.pinned)
    assert {"crypto/derive-worker", "v2/files/encrypt-worker"} <= entries_of(check.fetched), \
        "the login's derivation or the file's encryption ran no worker"
    assert page.errors == []


def entries_of(urls: set[str]) -> set[str]:
    """The bundle entries (``v2/app``) of pinned URLs."""
    return {match.group(1) for url in urls if (match := BUNDLE_FILE.match(urlsplit(url).path))}


def test_the_probes_see_a_violation_and_a_wrong_integrity(start_shared_server, new_page):
    """Positive controls: an inline script is reported as a CSP violation; a script whose
    integrity does not match is refused by the browser and flagged by the check."""
    server = start_shared_server("uvicorn")
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


def test_a_worker_runs_only_its_pinned_bytes_under_the_site_csp(start_shared_server, new_page):
    """startWorker fetches the derivation worker with its manifest integrity and runs it
    from a blob: URL under the site's CSP (worker-src blob:): it derives the same keys
    as the page, with progress; a wrong integrity is refused with the typed error."""
    from tests.support.bundle import BUNDLE_DIR

    entries = json.loads((BUNDLE_DIR / "manifest.json").read_text())["entries"]
    server = start_shared_server("uvicorn")
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


def test_the_admin_pages_pin_their_scripts_too(start_shared_server, new_page, redis_url):
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
    server = start_shared_server("uvicorn")
    page = new_page(server)
    page.context.add_cookies([{"name": name, "value": morsel.value, "url": server.url}
                              for name, morsel in client.cookies.items()])
    check = PinCheck(page, server)
    check.crawl(["/admin/", "/admin/accounts/user/"], limit=ADMIN_PAGES, under="/admin/")
    assert any(re.search(r"/admin/accounts/user/\d+/change/$", url) for url in check.pages)
    assert any("jsi18n" in url for url in check.pinned), "no page loaded the catalog"
    check.assert_clean()
