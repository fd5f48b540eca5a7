"""A production install (`make deps`) brings no test tools; the test targets add them."""

from __future__ import annotations

import re
import subprocess

from tests.support.live import REPO_ROOT

TEST_TOOLS = {"pytest", "pytest-django", "pytest-asyncio", "pytest-timeout", "hypothesis",
              "pyrage", "playwright", "pyotp", "psutil", "ruff"}


def pinned(path) -> set[str]:
    return {m.lower() for m in re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==",
                                         path.read_text(), re.M)}


def dry_run(target: str) -> str:
    done = subprocess.run(["make", "-n", "-B", target], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_runtime_requirements_hold_no_test_tool_and_dev_adds_them():
    runtime = pinned(REPO_ROOT / "requirements.txt")
    dev = pinned(REPO_ROOT / "requirements-dev.txt")
    assert {"django", "channels", "uvicorn", "cryptography", "httpx"} <= runtime
    assert runtime & TEST_TOOLS == set()
    assert TEST_TOOLS <= dev  # positive control: the tools exist, in the dev file
    assert "-r requirements.txt" in (REPO_ROOT / "requirements-dev.txt").read_text()


def test_make_deps_installs_the_runtime_and_make_test_the_tools():
    production = dry_run("deps")
    assert "-r requirements.txt" in production and "requirements-dev.txt" not in production
    assert "npm ci" in production  # the bundle build stays in production installs
    assert "-r requirements-dev.txt" in dry_run("dev-deps")
