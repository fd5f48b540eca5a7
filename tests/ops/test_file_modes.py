"""State is readable by its owner only (issue 17, "files in production").

- ``make run`` (without reinstalling: the test marks the install stamps as up to date)
  creates ``var/``, the SQLite database with its WAL, the secret key and the media
  directory 0700/0600 even under the usual umask 022, and tightens a tree made before.
- ``deploy/securechat-manage migrate``, the first command of an installation, creates the
  SQLite database 0600 and its directory 0700 under the operator's umask 022; the unit
  keeps ``UMask=0077`` and ``StateDirectoryMode=0700`` for what the server writes.
- Positive control: ``manage.py migrate`` run by hand under umask 022 leaves a database
  that the probe reports as readable by others.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import httpx

from tests.ops.deploy import SYSTEMD_PATH, unit_directive, unit_file, write_env_file
from tests.support.live import REPO_ROOT, free_port

DEPLOY = REPO_ROOT / "deploy"
MAKE_WITHOUT_INSTALLS = ["make", "--no-print-directory", "-o", ".venv/.installed",
                         "-o", "node_modules/.installed"]


def exposed(tree: Path) -> dict[str, str]:
    """Every path under ``tree`` (itself included) that group or others may read, with its mode."""
    paths = [tree, *tree.rglob("*")]
    return {str(p.relative_to(tree.parent)): oct(stat.S_IMODE(p.stat().st_mode))
            for p in paths if p.stat().st_mode & 0o077}


def plain_env(var_dir: Path) -> dict[str, str]:
    """The environment of a person at a shell: no test settings, no Redis, state in var_dir."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SECURECHAT_", "DJANGO_", "PYTEST")) and k not in
           {"REDIS_URL", "DATABASE_URL", "SQLITE_PATH", "MEDIA_ROOT", "SECRET_KEY"}}
    env["SECURECHAT_VAR_DIR"] = str(var_dir)
    return env


def umask_022():
    os.umask(0o022)


def wait_healthy(port: int, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "make run exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError("make run did not answer")


def test_make_run_keeps_var_private(tmp_path):
    var = tmp_path / "var"
    (var / "media").mkdir(parents=True, mode=0o755)  # a tree made before the fix
    (var / "media").chmod(0o755)
    port = free_port()
    with open(tmp_path / "make.log", "wb") as log:
        process = subprocess.Popen([*MAKE_WITHOUT_INSTALLS, "run", f"PORT={port}"],
                                   cwd=REPO_ROOT, env=plain_env(var), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=umask_022)
    try:
        wait_healthy(port, process)
        assert (var / "db.sqlite3").exists() and (var / "secret_key").exists()
        assert (var / "totp_key").exists()
        assert (var / "media").is_dir()
        assert exposed(var) == {}, (tmp_path / "make.log").read_text()[-2000:]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def test_securechat_manage_migrate_creates_a_private_database(tmp_path):
    var = tmp_path / "state"
    env_file = write_env_file(tmp_path / "securechat.env", {
        "SECRET_KEY": "k" * 20 + os.urandom(24).hex(), "SECURECHAT_ORIGINS": "https://c.example",
        "SECURECHAT_VAR_DIR": str(var), "MEDIA_ROOT": str(var / "media"), "DATABASE_URL": "",
        "REDIS_URL": "redis://127.0.0.1:6379/0", "SECURECHAT_PROCESSES": "1"})
    env = {"PATH": SYSTEMD_PATH, "SECURECHAT_ENV_FILE": str(env_file),
           "SECURECHAT_APP_DIR": str(REPO_ROOT), "SECURECHAT_USER": "securechat-not-created"}
    done = subprocess.run([str(DEPLOY / "securechat-manage"), "migrate", "--noinput"], env=env,
                          capture_output=True, text=True, timeout=300, preexec_fn=umask_022)
    assert done.returncode == 0, done.stderr
    assert (var / "db.sqlite3").exists()
    assert exposed(var) == {}


def test_the_unit_keeps_what_the_server_writes_private(tmp_path):
    unit = unit_file(write_env_file(tmp_path / "securechat.env", {}))
    assert unit_directive(unit, "UMask") == "0077"
    assert unit_directive(unit, "StateDirectoryMode") == "0700"


def test_control_a_database_made_under_umask_022_is_reported(tmp_path):
    var = tmp_path / "var"
    done = subprocess.run([str(REPO_ROOT / ".venv/bin/python"), "manage.py", "migrate",
                           "--noinput"], cwd=REPO_ROOT, env=plain_env(var), capture_output=True,
                          text=True, timeout=300, preexec_fn=umask_022)
    assert done.returncode == 0, done.stderr
    assert "var/db.sqlite3" in exposed(var)
