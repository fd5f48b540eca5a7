"""The restore drill of docs/operations.md, performed as written.

Every ``# drill:`` block of "Backups and the restore drill" runs with bash,
with only the paths, database URLs and the wrapper's location replaced by
this test's. Version 2 content is made the way users make it, with the
``securechat`` CLI against a running server (two users, a text message and a
file, encrypted on their side); the backup is taken while that server runs; the
original blobs are then deleted; the restore goes into a fresh directory (and
a fresh PostgreSQL database on that leg), passes ``securechat-manage migrate
--check`` and ``check``, and on a server started on the restored copy the
recipient's CLI, which read past the backup point, notices the older state,
refuses to go on until the user accepts, then reads the restored message and
downloads the file (same bytes, file_hash verified); a fresh login with the
password works there too (the database and the server's secrets were restored
together).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.client.test_cli_messages import PASSWORD, CliUser, messages
from tests.ops.deploy import DEPLOY, SYSTEMD_PATH, write_env_file
from tests.support.live import REPO_ROOT, LiveServer, database_env

pytestmark = [pytest.mark.usefixtures("fresh_rate_limits")]

DOC = REPO_ROOT / "docs" / "operations.md"
TEXT = "the drill restores this message"


def drill_blocks() -> dict[str, str]:
    """``{name: commands}`` for each fenced block whose first line is ``# drill: name``."""
    blocks = re.findall(r"```sh\n# drill: ([^\n]+)\n(.*?)```", DOC.read_text(), re.DOTALL)
    return {name.strip(): body for name, body in blocks}


def run_block(body: str, replacements: dict[str, str], env: dict[str, str]) -> None:
    for old, new in replacements.items():  # longest first: specific paths before prefixes
        body = body.replace(old, new)
    assert "/var/lib/securechat" not in body and "/backup/securechat" not in body, body
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", body], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{body}\n{done.stdout}\n{done.stderr}"


def test_the_documented_blocks_cover_both_databases():
    assert set(drill_blocks()) == {
        "backup sqlite", "backup postgresql", "backup blobs and settings",
        "restore sqlite", "restore postgresql", "restore blobs and settings"}


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@pytest.mark.dbsensitive
def test_restore_drill(start_server, tmp_path):
    vendor = connection.vendor
    blocks = drill_blocks()
    # Content, made by the users' clients (the securechat CLI) while a server runs.
    server = start_server("uvicorn")
    ada, ben = CliUser(server, tmp_path, "ada"), CliUser(server, tmp_path, "ben")
    e2e = ada.ok("new", ben.email).split()[2]
    ada.ok("send", e2e, TEXT)
    data = os.urandom(200_000)
    (tmp_path / "drill.bin").write_bytes(data)
    ada.ok("send", e2e, "--file", str(tmp_path / "drill.bin"))

    backup, restored = tmp_path / "bk", tmp_path / "restored"
    env_file = tmp_path / "etc" / "securechat.env"
    env_file.parent.mkdir()
    restored_env = tmp_path / "etc" / "restored.env"
    source_db = database_env().get("DATABASE_URL") or ""
    restored_db = ""
    if vendor == "postgresql":
        restored_db = with_database(source_db, f"securechat_drill_{uuid.uuid4().hex[:10]}")
    write_env_file(env_file, {
        "SECRET_KEY": settings.SECRET_KEY, "SECURECHAT_VAR_DIR": str(restored),
        "MEDIA_ROOT": str(restored / "media"), "DATABASE_URL": restored_db,
        "REDIS_URL": settings.REDIS_URL, "PRELOGIN_KEY": settings.PRELOGIN_KEY,
        "AUTH_PEPPER": settings.AUTH_PEPPER, "DEVICE_KEY_SECRET": settings.DEVICE_KEY_SECRET})
    shell_env = {"PATH": f"{tmp_path / 'bin'}:{SYSTEMD_PATH}",
                 "SECURECHAT_ENV_FILE": str(restored_env), "SECURECHAT_APP_DIR": str(REPO_ROOT),
                 "SECURECHAT_USER": "securechat-not-created"}
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "securechat-manage").symlink_to(DEPLOY / "securechat-manage")

    admin_url = with_database(source_db, "postgres") if source_db else ""
    role = urlsplit(source_db).username if source_db else ""
    backup_paths = {
        "/var/lib/securechat/db.sqlite3": str(connection.settings_dict["NAME"]),
        "/var/lib/securechat": str(server.workdir),  # its media/ is MEDIA_ROOT
        "/backup/securechat": str(backup),
        "/etc/securechat/securechat.env": str(env_file),
        "postgres://securechat@127.0.0.1:5432/securechat": source_db,
    }
    restore_paths = {
        "/var/lib/securechat": str(restored),
        "/backup/securechat": str(backup),
        "/etc/securechat/securechat.env": str(restored_env),
        "postgres://securechat@127.0.0.1:5432/securechat": restored_db,
        "postgres://postgres@127.0.0.1:5432/postgres": admin_url,
        "--owner=securechat securechat": f"--owner={role} {urlsplit(restored_db).path[1:]}",
    }
    restored_server = None
    try:
        # Back up while the server runs, then lose the original blobs.
        run_block(blocks[f"backup {vendor}"], backup_paths, shell_env)
        run_block(blocks["backup blobs and settings"], backup_paths, shell_env)
        ada.ok("send", e2e, "after the backup")  # lost by the restore; Ben reads it first
        assert messages(ben.ok("read", e2e))[-1].endswith("after the backup")
        server.stop()
        shutil.rmtree(server.media_root)
        assert oct((backup / "securechat.env").stat().st_mode & 0o777) == "0o600"

        run_block(blocks[f"restore {vendor}"], restore_paths, shell_env)
        run_block(blocks["restore blobs and settings"], restore_paths, shell_env)
        assert (restored / "media").is_dir() and any((restored / "media").rglob("*"))

        db_env = ({"DATABASE_URL": restored_db} if vendor == "postgresql"
                  else {"SQLITE_PATH": str(restored / "db.sqlite3"), "DATABASE_URL": ""})
        restored_server = LiveServer("uvicorn", tmp_path / "restored-server", port=server.port,
                                     extra_env={**db_env,
                                                "MEDIA_ROOT": str(restored / "media")}).start()
        clients_notice_the_restore(ben, e2e)
        read_back(restored_server, ben, e2e, data, tmp_path)
    finally:
        if restored_server is not None:
            restored_server.stop()
        if restored_db:
            subprocess.run(["dropdb", "--if-exists", f"--maintenance-db={admin_url}",
                            urlsplit(restored_db).path[1:]], check=False, timeout=60)


def clients_notice_the_restore(reader: CliUser, conversation: str) -> None:
    """What users see (docs/operations.md): a client that read more than the backup holds
    says so and asks before continuing; after accepting, it reads the restored history."""
    refused = reader.run("read", conversation)
    assert refused.returncode == 1 and "restored from a backup" in refused.stderr, refused
    reader.ok("accept-restore", conversation)
    history = messages(reader.ok("read", conversation))
    assert any(m.endswith(TEXT) for m in history), history
    assert not any(m.endswith("after the backup") for m in history), history


def read_back(server: LiveServer, reader: CliUser, conversation: str, data: bytes,
              tmp_path) -> None:
    """The restored file downloads and verifies; a fresh login on another machine works."""
    line = next(x for x in reader.ok("read", conversation).splitlines() if "[file]" in x)
    out = tmp_path / "restored-inbox"
    out.mkdir()
    saved = reader.ok("download", "--message", f"{conversation}:{line.split()[0][1:]}",
                      "-o", str(out))
    assert "file_hash verified" in saved
    (landed,) = out.iterdir()
    assert hashlib.sha256(landed.read_bytes()).digest() == hashlib.sha256(data).digest()
    login = cli_support.run_cli(tmp_path / "ben-elsewhere", "--server", server.url,
                                "--password-stdin", "login", "--email", reader.email,
                                stdin=PASSWORD + "\n")
    assert login.returncode == 0, login
