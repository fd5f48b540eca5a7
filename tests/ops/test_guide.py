"""The deployment guide works as written (issue 16): docs/operations.md's ``# guide:``
blocks run with bash (only paths and the database server's address replaced), and
what they write is checked the way systemd and PostgreSQL read it.

- The environment file: the example, the documented excerpt and the file the guide's
  block makes all pass a checker of systemd.exec(5)'s EnvironmentFile rules, which
  (positive control) rejects each form the first drill found: an inline comment,
  ``$(...)``, several assignments on one line.
- The PostgreSQL block makes a role with a password and a database it owns on the
  shared server (under throwaway names) and writes a DATABASE_URL with the password and
  ``connect_timeout`` that Django reads.
- ``collectstatic`` through ``securechat-manage`` as an unprivileged user (``nobody``)
  writes STATIC_ROOT in the state directory.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import psycopg
import pytest

from tests.ops.deploy import (
    DEPLOY,
    ENV_EXAMPLE,
    SYSTEMD_PATH,
    env_file_problems,
    read_env_file,
    write_env_file,
)
from tests.support.live import REPO_ROOT, postgres_admin_url

DOC = REPO_ROOT / "docs" / "operations.md"
ADMIN_URL = postgres_admin_url()


def guide_blocks() -> dict[str, str]:
    """``{name: commands}`` of each fenced block whose first line is ``# guide: name``."""
    found = re.findall(r"```sh\n# guide: ([^\n]+)\n(.*?)```", DOC.read_text(), re.DOTALL)
    return {name.strip(): body for name, body in found}


def run_guide_block(name: str, replacements: dict[str, str]) -> subprocess.CompletedProcess:
    body = guide_blocks()[name]
    for old, new in replacements.items():
        body = body.replace(old, new)
    assert "/etc/securechat/" not in body, body
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=REPO_ROOT,
                          env={"PATH": SYSTEMD_PATH}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"{body}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.parametrize("line, why", [
    ("EMAIL_PORT=587   # submission", "inline comment"),
    ("SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(64))')",
     "command substitution"),
    ("EMAIL_HOST=smtp.example.com EMAIL_PORT=587 EMAIL_USE_TLS=1", "several assignments"),
])
def test_the_checker_rejects_each_form_the_drill_found(line, why):
    good = ENV_EXAMPLE.read_text()
    assert env_file_problems(good) == []
    problems = env_file_problems(good + line + "\n")
    assert len(problems) == 1 and why in problems[0], problems
    assert problems[0].startswith(f"line {len(good.splitlines()) + 1}:")


def test_the_example_and_the_documented_excerpt_are_valid_env_files():
    excerpts = re.findall(r"```ini\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert excerpts, "docs/operations.md shows no environment file excerpt"
    for text in [ENV_EXAMPLE.read_text(), *excerpts]:
        assert env_file_problems(text) == []
    documented = read_env_file_text(excerpts[0])
    assert "connect_timeout=" in documented["DATABASE_URL"]
    assert ":PASSWORD@" in documented["DATABASE_URL"]
    assert set(documented) <= set(read_env_file(ENV_EXAMPLE)) | {"SECURECHAT_SCRYPT_WORK_FACTOR"}


def read_env_file_text(text: str) -> dict[str, str]:
    path = Path(tempfile.mkdtemp()) / "env"
    try:
        path.write_text(text)
        return read_env_file(path)
    finally:
        shutil.rmtree(path.parent)


def test_the_environment_file_block_makes_a_valid_file_with_a_fresh_key(tmp_path):
    etc = tmp_path / "etc"
    run_guide_block("environment file", {"/etc/securechat": str(etc)})
    env_file = etc / "securechat.env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    assert env_file_problems(env_file.read_text()) == []
    key = read_env_file(env_file)["SECRET_KEY"]
    assert key != read_env_file(ENV_EXAMPLE)["SECRET_KEY"] and len(key) >= 80
    assert re.fullmatch(r"[A-Za-z0-9_-]+", key)


def test_the_postgresql_block_makes_a_role_with_a_password_and_its_database(tmp_path):
    name = f"securechat_guide_{uuid.uuid4().hex[:10]}"
    env_file = write_env_file(tmp_path / "securechat.env", {})
    try:
        run_guide_block("postgresql", {
            "runuser -u postgres -- psql": f"psql {ADMIN_URL}",
            "CREATE ROLE securechat": f"CREATE ROLE {name}",
            "CREATE DATABASE securechat OWNER securechat":
                f"CREATE DATABASE {name} OWNER {name}",
            "postgres://securechat:": f"postgres://{name}:",
            "@127.0.0.1:5432/securechat?": f"@{urlsplit(ADMIN_URL).netloc.split('@')[-1]}/{name}?",
            "/etc/securechat/securechat.env": str(env_file)})
        assert env_file_problems(env_file.read_text()) == []
        url = read_env_file(env_file)["DATABASE_URL"]
        config = dj_database_url.parse(url)
        assert (config["USER"], config["NAME"]) == (name, name)
        assert config["OPTIONS"] == {"connect_timeout": 5} and len(config["PASSWORD"]) >= 40
        with psycopg.connect(url) as conn:
            assert conn.execute("select current_user, current_database()").fetchone() == (
                name, name)
        with psycopg.connect(ADMIN_URL) as admin:
            (verifier,) = admin.execute("select rolpassword from pg_authid where rolname = %s",
                                        (name,)).fetchone()
        assert verifier.startswith("SCRAM-SHA-256$")  # the password is set (trust auth here)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}"')
            admin.execute(f'drop role if exists "{name}"')


def python_outside_root(command: list[str]) -> list[str]:
    """``command`` in a private mount namespace where /root is traversable, when this
    test's Python lives under /root (mode 0700 here): the guide tells operators to
    install Python outside home directories, which this machine's pyenv is not. Only
    the namespace of this one command changes, never the machine's /root."""
    python = Path(sys.executable).resolve()
    if not python.is_relative_to("/root"):
        return command
    top = Path("/root") / python.relative_to("/root").parts[0]  # e.g. /root/.pyenv
    script = (f'set -e; keep=$(mktemp -d); mount --bind {top} "$keep"; '
              f"mount -t tmpfs -o mode=0755 tmpfs /root; mkdir {top}; "
              f'mount --bind "$keep" {top}; exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
            *command]


def test_collectstatic_runs_as_an_unprivileged_service_user(tmp_path):
    """securechat-manage as root drops to the service user (here ``nobody``), which can
    write STATIC_ROOT under the state directory, as the example env file places it."""
    state = Path(tempfile.mkdtemp(prefix="securechat-state-"))
    try:
        state.chmod(0o700)
        shutil.chown(state, "nobody", "nogroup")
        env_file = write_env_file(tmp_path / "securechat.env", {
            "SECRET_KEY": "x" * 60, "SECURECHAT_VAR_DIR": str(state),
            "MEDIA_ROOT": str(state / "media"), "STATIC_ROOT": str(state / "static"),
            "DATABASE_URL": ""})
        assert read_env_file(ENV_EXAMPLE)["STATIC_ROOT"].startswith(
            read_env_file(ENV_EXAMPLE)["SECURECHAT_VAR_DIR"] + "/")
        command = [str(DEPLOY / "securechat-manage"), "collectstatic", "--noinput"]
        done = subprocess.run(python_outside_root(command),
                              env={"PATH": SYSTEMD_PATH, "SECURECHAT_ENV_FILE": str(env_file),
                                   "SECURECHAT_APP_DIR": str(REPO_ROOT),
                                   "SECURECHAT_USER": "nobody"},
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        manifest = state / "static" / "staticfiles.json"
        assert manifest.is_file() and manifest.stat().st_uid != 0  # written by nobody
    finally:
        shutil.rmtree(state)
