"""Private local files of the CLI: the config directory and 0600 JSON files in it.

The CLI keeps three kinds of state under its config directory (``--config-dir``,
else ``$XDG_CONFIG_HOME/securechat``, else ``~/.config/securechat``):

- ``session.json`` — each server's cookies (a session cookie is a login);
- ``accounts.json`` — each server's and account's (account salt, work factor),
  so a server that changes them is caught (DESIGN.md §3);
- ``identity-*.age`` — opt-in: the identity under a passphrase the user chose.

Contract: the directory is created 0700 and every file 0600, written to a
temporary file in the same directory and renamed over the old one (a crash
leaves the old file or the new, never half of one). A directory or file that
others can read or write is refused, never "fixed" silently: someone may
already have read it. This module is the only place in :mod:`client` that reads
the environment, and only ``XDG_CONFIG_HOME`` (tests/client/test_package.py).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from .errors import LocalFileError

__all__ = ["config_dir", "read_json", "read_private", "remove", "write_private"]

_PRIVATE_BITS = 0o077  # group and other: any of these makes a file or directory public


def config_dir(explicit: str | None) -> Path:
    """The config directory (created 0700); :class:`LocalFileError` if others can reach it."""
    if explicit:
        path = Path(explicit).expanduser()
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        path = Path(base) / "securechat"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = path.stat().st_mode
    except OSError as exc:
        raise LocalFileError(f"cannot use the config directory {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(mode):
        raise LocalFileError(f"{path} is not a directory")
    if mode & _PRIVATE_BITS:
        raise LocalFileError(f"{path} is open to other users; run: chmod 700 {path}")
    return path


def check_private_file(path: Path) -> None:
    """Refuse a path that is not a regular file of mode 0600 or stricter."""
    try:
        st = path.lstat()
    except OSError as exc:
        raise LocalFileError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise LocalFileError(f"{path} is not a regular file")
    if st.st_mode & _PRIVATE_BITS:
        raise LocalFileError(f"{path} is readable by other users; run: chmod 600 {path}")


def read_private(path: Path) -> bytes | None:
    """The bytes of a private file, ``None`` if it does not exist; refuses a public one."""
    if not path.exists() and not path.is_symlink():
        return None
    check_private_file(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LocalFileError(f"cannot read {path}: {exc.strerror}") from None


def read_json(path: Path) -> dict:
    """A private JSON object file, ``{}`` if it does not exist."""
    data = read_private(path)
    if data is None:
        return {}
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise LocalFileError(f"{path} is not valid JSON; move it away to start afresh") from None
    if not isinstance(value, dict):
        raise LocalFileError(f"{path} is not a JSON object; move it away to start afresh")
    return value


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` as a 0600 file, atomically (temporary file, then rename).

    ``exclusive`` refuses to replace an existing file (user-named outputs).
    """
    if exclusive and (path.exists() or path.is_symlink()):
        raise LocalFileError(f"{path} exists; choose another name")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if exclusive:
            os.link(tmp, path)  # fails if the name appeared meanwhile; never replaces
            tmp.unlink()
        else:
            os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LocalFileError(f"cannot write {path}: {exc.strerror}") from None


def remove(path: Path) -> None:
    """Delete a file if it exists."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise LocalFileError(f"cannot delete {path}: {exc.strerror}") from None
