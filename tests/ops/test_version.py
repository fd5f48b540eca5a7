"""Version and changelog (issue 16): one version, printed by ``manage.py version``
(through ``securechat-manage`` too), and a Keep a Changelog file whose releases each
say whether an upgrade to them needs every process stopped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib

from packaging.version import Version

import securechat
from tests.support.live import REPO_ROOT

CHANGELOG = REPO_ROOT / "CHANGELOG.md"
RELEASE = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", re.MULTILINE)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT,
                          env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
                          capture_output=True, text=True, timeout=60)


def test_manage_py_version_prints_securechat_version_not_djangos():
    done = manage("version")
    assert (done.returncode, done.stdout, done.stderr) == (0, securechat.__version__ + "\n", "")
    import django

    assert done.stdout.strip() != django.get_version()  # control: Django's own answer differs
    helped = manage("version", "--help")
    assert helped.returncode == 0 and "SecureChat version" in helped.stdout


def test_the_version_is_written_once_and_newer_than_every_release():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "securechat.__version__"}
    releases = [Version(v) for v in RELEASE.findall(CHANGELOG.read_text())]
    assert releases and Version(securechat.__version__) > max(releases)


def test_every_changelog_section_says_whether_processes_must_stop():
    text = CHANGELOG.read_text()
    assert text.startswith("# Changelog\n") and "## [Unreleased]" in text
    sections = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    assert len(sections) >= 2
    for section in sections:
        line = re.search(r"^Migrations: (.+)$", section, flags=re.MULTILINE)
        assert line, section.splitlines()[0]
        assert re.search(r"Rolling restart|Stop all processes|initial", line.group(1)), line
    assert "Stop all processes" in (REPO_ROOT / "docs" / "operations.md").read_text()
