"""The browser bundles are reproducible and self-consistent (issue 12, must-show 5).

Two builds from two fresh copies of the sources, in directories of different names
and depths, must give byte-identical files and the same manifest, equal to the
bundle the site serves (static/dist): anyone rebuilding a release gets the hashes it
publishes (``make release-hashes``, ``securechat verify-web``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from tests.support.bundle import BUNDLE_DIR, build
from tests.support.live import REPO_ROOT

SOURCES = ["static/js", "tools", "package.json", "package-lock.json"]


def fresh_copy(target: Path) -> Path:
    """The build's inputs as a clone would have them (tracked and new, not ignored files),
    plus node_modules as `npm ci` installs it from package-lock.json."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", *SOURCES],
        cwd=REPO_ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (REPO_ROOT / name).exists():  # a tracked file deleted in the working tree
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, target / name)
    shutil.copytree(REPO_ROOT / "node_modules", target / "node_modules", symlinks=True)
    return target


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_two_fresh_copies_build_byte_identical_bundles(tmp_path):
    first = fresh_copy(tmp_path / "a")
    second = fresh_copy(tmp_path / "a much longer" / "nested clone name")
    build(tmp_path / "out-1", root=first)
    build(tmp_path / "out-2", root=second)
    one, two = tree(tmp_path / "out-1"), tree(tmp_path / "out-2")
    assert one.keys() == two.keys()
    assert [name for name in one if one[name] != two[name]] == []
    # The served bundle is the same release: same manifest, so the same published hashes.
    assert one["manifest.json"] == (BUNDLE_DIR / "manifest.json").read_bytes()


def test_the_manifest_names_each_file_by_its_bytes():
    """File name, sha256 and sha384 integrity all describe the bytes on disk; every
    built file is in the manifest (nothing unpinned ships)."""
    manifest = json.loads((BUNDLE_DIR / "manifest.json").read_text())
    files = set()
    for entry, record in manifest["entries"].items():
        data = (BUNDLE_DIR / record["file"]).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        assert record["sha256"] == digest, entry
        assert digest[:16] in record["file"], entry
        expected = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
        assert record["integrity"] == expected, entry
        files.add(record["file"])
    on_disk = {str(p.relative_to(BUNDLE_DIR)) for p in BUNDLE_DIR.rglob("*") if p.is_file()}
    assert on_disk - {"manifest.json"} == files


def test_make_release_hashes_prints_the_manifest_hashes():
    """`make release-hashes` prints one sha256sum line per bundle."""
    done = subprocess.run(["make", "--no-print-directory", "-s", "release-hashes"],
                          cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    manifest = json.loads((BUNDLE_DIR / "manifest.json").read_text())["entries"]
    assert done.stdout.splitlines() == [
        f"{record['sha256']}  {record['file']}" for _, record in sorted(manifest.items())]


def test_collectstatic_in_production_keeps_the_pinned_bytes(tmp_path, settings):
    """Production collects static files with hashed names (whitenoise's manifest storage,
    which rewrites references inside CSS and JS): the bundles must come out byte for
    byte, or every integrity on the site would fail."""
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path / "collected"
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
    call_command("collectstatic", "--noinput", verbosity=0)
    entries = json.loads((BUNDLE_DIR / "manifest.json").read_text())["entries"]
    for entry, record in entries.items():
        collected = settings.STATIC_ROOT / staticfiles_storage.stored_name(f"dist/{record['file']}")
        assert collected.name != Path(record["file"]).name, "not the production storage"
        assert collected.read_bytes() == (BUNDLE_DIR / record["file"]).read_bytes(), entry
