"""The browser bundles for tests (``make bundle``, tools/bundle.mjs).

Pages render script tags from ``static/dist/manifest.json``, so a test run must
see a bundle built from the current sources: ``ensure_built()`` rebuilds when any
source is newer than the manifest (what ``make bundle`` would do), so running a
single test file with pytest never tests stale bundles.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.support.live import REPO_ROOT

BUNDLE_DIR = REPO_ROOT / "static" / "dist"
BUILD_TIMEOUT_SECONDS = 120


def sources(root: Path = REPO_ROOT) -> list[Path]:
    """Every input of the build (the Makefile's BUNDLE_SOURCES)."""
    return [*sorted((root / "static" / "js").rglob("*.js")),
            root / "tools" / "bundle.mjs", root / "package-lock.json"]


def build(outdir: Path, *, test_variant: bool = False, root: Path = REPO_ROOT) -> dict:
    """Builds the bundles of the tree at ``root`` into ``outdir``; returns the manifest."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is needed to build the bundles (Debian package nodejs)")
    args = [node, "tools/bundle.mjs", *(["--test"] if test_variant else []), str(outdir)]
    done = subprocess.run(args, cwd=root, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT_SECONDS, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bundle build failed:\n{done.stdout}\n{done.stderr}")
    return json.loads((outdir / "manifest.json").read_text())


def ensure_built() -> None:
    """Rebuilds static/dist when it is missing or older than a source."""
    manifest = BUNDLE_DIR / "manifest.json"
    if manifest.exists():
        built = manifest.stat().st_mtime_ns
        if all(path.stat().st_mtime_ns <= built for path in sources()):
            return
    build(BUNDLE_DIR)
