"""client._local: the config directory (0700), private files (0600, atomic, refused if public)."""

from __future__ import annotations

import pytest

from client import _local
from client.errors import LocalFileError


def test_the_config_directory_follows_xdg_and_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    path = _local.config_dir(None)
    assert path == tmp_path / "xdg" / "securechat" and path.stat().st_mode & 0o777 == 0o700
    assert _local.config_dir(str(tmp_path / "explicit")) == tmp_path / "explicit"


def test_a_public_config_directory_is_refused_not_fixed(tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    public.chmod(0o750)
    with pytest.raises(LocalFileError, match="chmod 700"):
        _local.config_dir(str(public))
    assert public.stat().st_mode & 0o777 == 0o750


def test_private_files_are_0600_and_replaced_atomically(tmp_path):
    path = tmp_path / "f.json"
    _local.write_private(path, b'{"a": 1}')
    assert path.stat().st_mode & 0o777 == 0o600 and _local.read_json(path) == {"a": 1}
    _local.write_private(path, b'{"a": 2}')
    assert _local.read_json(path) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temporary file left


def test_exclusive_writes_never_replace(tmp_path):
    path = tmp_path / "out.age"
    path.write_bytes(b"keep")
    with pytest.raises(LocalFileError, match="exists"):
        _local.write_private(path, b"new", exclusive=True)
    assert path.read_bytes() == b"keep"
    _local.write_private(tmp_path / "new.age", b"new", exclusive=True)
    assert (tmp_path / "new.age").stat().st_mode & 0o777 == 0o600


def test_public_or_damaged_files_are_refused(tmp_path):
    path = tmp_path / "f.json"
    path.write_text("{}")
    path.chmod(0o604)
    with pytest.raises(LocalFileError, match="chmod 600"):
        _local.read_json(path)
    path.chmod(0o600)
    path.write_text("[1]")
    with pytest.raises(LocalFileError, match="not a JSON object"):
        _local.read_json(path)
    assert _local.read_json(tmp_path / "missing.json") == {}
