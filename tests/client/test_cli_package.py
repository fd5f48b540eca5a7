"""The CLI as an installable package: client/ and agecrypt/ alone, a console script, no Django.

A fresh virtual environment gets the package from a copy of only the files the
package needs (pyproject.toml, client/, agecrypt/ and securechat/__init__.py for the
version), installed with ``pip install --no-deps`` (setuptools comes from PyPI
into pip's isolated build environment). Its runtime dependencies are taken from
the project's venv through a ``.pth`` line, so nothing else is downloaded; a
second ``.pth`` line installs a meta-path blocker so that ``import django`` raises
in every process of that venv, and the installed ``securechat`` must still run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from tests.client.cli_support import BLOCK_DJANGO
from tests.support.live import REPO_ROOT

CLIENT_DEPENDENCIES = {"cryptography", "httpx", "websockets", "tuspy"}


def pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_the_package_pins_its_dependencies_as_requirements_txt_does():
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)",
                           (REPO_ROOT / "requirements.txt").read_text(), re.M))
    declared = dict(d.split("==") for d in pyproject()["project"]["dependencies"])
    assert set(declared) == CLIENT_DEPENDENCIES
    assert {name: pins[name] for name in declared} == declared


def test_the_package_is_client_and_agecrypt_with_a_console_script():
    project = pyproject()
    assert project["tool"]["setuptools"]["packages"] == ["client", "agecrypt"]
    assert project["project"]["scripts"] == {"securechat": "client.cli:main"}


def test_the_makefile_installs_the_console_script():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "$(PY) -m pip install --quiet --no-deps -e ." in makefile


def _copy_package_sources(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("client", "agecrypt"):
        shutil.copytree(REPO_ROOT / name, dest / name, ignore=ignore)
    (dest / "securechat").mkdir()
    shutil.copy(REPO_ROOT / "securechat" / "__init__.py", dest / "securechat")
    shutil.copy(REPO_ROOT / "pyproject.toml", dest)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli-package")
    _copy_package_sources(root / "src")
    env_dir = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    (site / "_no_django.py").write_text(BLOCK_DJANGO)
    (site / "00_no_django.pth").write_text("import _no_django\n")
    # The pinned runtime dependencies, from the project's environment (after the package).
    (site / "zz_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--disable-pip-version-check", str(root / "src")],
                   check=True, cwd=root, timeout=300)
    return env_dir


def run_in(venv: Path, *cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=venv.parent,
                          env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(venv.parent)},
                          timeout=60)


def test_django_is_blocked_in_the_fresh_venv(venv):
    """Positive control: Django is on the path (the project's site-packages) yet blocked."""
    proc = run_in(venv, str(venv / "bin" / "python"), "-c", "import django")
    assert proc.returncode != 0 and "django is blocked" in proc.stderr


def test_the_installed_console_script_runs_without_django(venv):
    proc = run_in(venv, str(venv / "bin" / "securechat"), "--help")
    assert proc.returncode == 0, proc.stderr
    assert "verify-web" in proc.stdout and "export-identity" in proc.stdout


def test_the_installed_script_does_real_work_without_django(venv, tmp_path):
    hashes = tmp_path / "hashes"
    hashes.write_text("not a hash line\n")
    proc = run_in(venv, str(venv / "bin" / "securechat"), "verify-web",
                  "http://127.0.0.1:9/", "--hashes", str(hashes))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("securechat: error: ")
    assert "not a '<sha256>  <file>'" in proc.stderr


def test_the_venv_holds_only_client_and_agecrypt(venv):
    proc = run_in(venv, str(venv / "bin" / "python"), "-c",
                  "import client, agecrypt; print(client.__file__); print(agecrypt.__file__)")
    assert proc.returncode == 0, proc.stderr
    assert all(line.startswith(str(venv)) for line in proc.stdout.split())
    (record,) = venv.glob("lib/python*/site-packages/securechat-*.dist-info/RECORD")
    top = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines()}
    assert {t for t in top if not t.endswith(".dist-info") and t != ".."} == {"client", "agecrypt"}


@pytest.mark.django_db(transaction=True)
def test_the_installed_script_keeps_the_production_floor(venv, start_server, tmp_path):
    """The console script has no way to lower the floor: the test server's 10 is refused."""
    server = start_server("uvicorn")
    proc = subprocess.run(
        [str(venv / "bin" / "securechat"), "--server", server.url, "--password-stdin",
         "signup", "--email", "a@example.org"], input="a long enough password\n",
        capture_output=True, text=True, timeout=60, start_new_session=True,
        env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
             "SECURECHAT_CLIENT_WORK_FACTOR": "10", "SECURECHAT_MIN_WORK_FACTOR": "10"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("securechat: error: work factor must be in [16, 20]")
