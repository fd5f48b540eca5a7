"""``securechat verify-web``: a tiny local site (shell + bundle + manifest), then the real one.

The local site is an http.server on 127.0.0.1 serving a dict of paths, so each
test changes exactly one thing a lying server could change: a bundle's bytes, an
inline script, a script from elsewhere, a wrong integrity, an unreleased file, a
released file not served. The last test runs it against a live server and the
real bundle with the hash list `make release-hashes` prints.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.client.cli_support import assert_one_error_line, run_cli

APP = b"console.log('the released app');\n"


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def named(entry: str, data: bytes) -> str:
    return f"{entry}-{hashlib.sha256(data).hexdigest()[:16]}.js"


def release_hashes(files: dict[str, bytes]) -> str:
    """The `make release-hashes` format: one "<sha256>  <file>" line per bundle."""
    return "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                   for name, data in sorted(files.items()))


def shell(scripts: list[tuple[str, str]], extra: str = "") -> bytes:
    tags = "".join(f'<script type="module" src="{src}" integrity="{i}" crossorigin></script>'
                   for src, i in scripts)
    return f"<!doctype html><html><head>{tags}{extra}</head><body>hi</body></html>".encode()


class Site:
    """A local web server of fixed pages; ``pages`` may be changed between requests."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                body = pages.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def publish(self, files: dict[str, bytes], entries: dict[str, str]) -> None:
        for name, data in files.items():
            self.pages[f"/static/dist/{name}"] = data
        manifest = {"version": 1, "entries": {
            e: {"file": f, "integrity": sri(files[f]),
                "sha256": hashlib.sha256(files[f]).hexdigest(), "type": "module"}
            for e, f in entries.items()}}
        self.pages["/static/dist/manifest.json"] = json.dumps(manifest).encode()


@pytest.fixture
def site():
    s = Site()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture
def released(site, tmp_path):
    """A site serving the released code, and the release's hash file."""
    app = named("chat/app", APP)
    site.publish({app: APP}, {"chat/app": app})
    site.pages["/"] = shell([(f"/static/dist/{app}", sri(APP))])
    hashes = tmp_path / "release-hashes.txt"
    hashes.write_text(release_hashes({app: APP}))
    return app, hashes


def verify(tmp_path, site, hashes, path="/"):
    return run_cli(tmp_path, "verify-web", site.url + path, "--hashes", str(hashes))


def test_the_released_code_verifies(tmp_path, site, released):
    result = verify(tmp_path, site, released[1])
    assert result.returncode == 0, result
    assert "OK:" in result.stdout and "1 files match" in result.stdout
    assert f"HTML shell sha256 {hashlib.sha256(site.pages['/']).hexdigest()}" in result.stdout


def test_a_modified_bundle_is_a_mismatch(tmp_path, site, released):
    app, hashes = released
    site.pages[f"/static/dist/{app}"] = APP + b"steal();"
    result = verify(tmp_path, site, hashes)
    assert result.returncode == 3, result
    assert f"MISMATCH: {app} differs from the release" in result.stdout
    assert "MISMATCH: the shell's integrity" in result.stdout  # the page's SRI no longer fits
    assert "NOT VERIFIED" in result.stdout


@pytest.mark.parametrize("extra, problem", [
    ("<script>steal()</script>", "1 inline script"),
    ('<script type="module">steal()</script>', "1 inline script"),
    ('<script type="text/json">steal()</script>', "1 inline script"),  # not JSON data
    ('<script src="https://evil.example/x.js"></script>', "a script from elsewhere"),
    ('<script src="/static/other.js"></script>', "not released"),
    ('<link rel="modulepreload" href="/static/dist/x.js">', "not released"),
])
def test_a_shell_that_loads_other_code_is_a_mismatch(tmp_path, site, released, extra, problem):
    app, hashes = released
    site.pages["/"] = shell([(f"/static/dist/{app}", sri(APP))], extra)
    result = verify(tmp_path, site, hashes)
    assert result.returncode == 3 and problem in result.stdout, result


def test_a_json_data_block_is_page_data_not_code(tmp_path, site, released):
    """Django's json_script (the shell's configuration) is never run by a browser."""
    app, hashes = released
    site.pages["/"] = shell([(f"/static/dist/{app}", sri(APP))],
                            '<script id="v2-config" type="application/json">{"a": 1}</script>')
    result = verify(tmp_path, site, hashes)
    assert result.returncode == 0 and "inline" not in result.stdout, result


def test_a_wrong_integrity_in_the_shell_is_a_mismatch(tmp_path, site, released):
    app, hashes = released
    site.pages["/"] = shell([(f"/static/dist/{app}", sri(b"other"))])
    result = verify(tmp_path, site, hashes)
    assert result.returncode == 3 and "integrity for" in result.stdout, result


def test_an_unreleased_or_missing_file_is_a_mismatch(tmp_path, site, released):
    app, hashes = released
    extra = b"export const extra = 1;\n"
    site.publish({app: APP, named("x", extra): extra}, {"chat/app": app, "x": named("x", extra)})
    result = verify(tmp_path, site, hashes)
    assert result.returncode == 3 and "which is not released" in result.stdout, result
    hashes.write_text(hashes.read_text() + release_hashes({"crypto/index-0.js": b"w"}))
    site.publish({app: APP}, {"chat/app": app})
    result = verify(tmp_path, site, hashes)
    assert result.returncode == 3
    assert "crypto/index-0.js is released but the server does not serve it" in result.stdout


def test_the_shell_is_compared_when_the_release_lists_it(tmp_path, site, released):
    app, hashes = released
    hashes.write_text(hashes.read_text() + f"{hashlib.sha256(b'x').hexdigest()}  /\n")
    result = verify(tmp_path, site, hashes)
    assert result.returncode == 3 and "the HTML shell / differs" in result.stdout, result


def test_a_malformed_hash_file_is_one_error_line(tmp_path, site, released):
    hashes = released[1]
    hashes.write_text("abc  chat/app.js\n")
    assert_one_error_line(verify(tmp_path, site, hashes), "not a '<sha256>  <file>' line")
    hashes.write_text("")
    assert_one_error_line(verify(tmp_path, site, hashes), "lists no files")


def test_an_unreachable_page_is_one_error_line(tmp_path, site, released):
    assert_one_error_line(verify(tmp_path, site, released[1], path="/nowhere"),
                          "the server answered 404")
    del site.pages["/static/dist/manifest.json"]
    assert_one_error_line(verify(tmp_path, site, released[1]), "manifest.json")


@pytest.mark.django_db(transaction=True)
def test_a_live_server_serves_the_released_bundle(start_server, tmp_path):
    """The real pages and bundle, with the hash list in `make release-hashes` format."""
    from tests.support import bundle

    bundle.ensure_built()
    manifest = json.loads((bundle.BUNDLE_DIR / "manifest.json").read_text())
    # The Makefile's release-hashes recipe, line for line.
    lines = [e["sha256"] + "  " + e["file"] for _, e in sorted(manifest["entries"].items())]
    hashes = tmp_path / "release-hashes.txt"
    hashes.write_text("\n".join(lines) + "\n")
    server = start_server("uvicorn")
    result = run_cli(tmp_path, "verify-web", server.url + "/login/", "--hashes", str(hashes))
    assert result.returncode == 0, result
    assert f"{len(lines)} files match" in result.stdout
