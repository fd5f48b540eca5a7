"""Whole-package rules of client/: no asserts, no environment, one randomness and clock seam."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import client
from client import errors

PACKAGE = Path(client.__file__).resolve().parent
FILES = sorted(PACKAGE.glob("*.py"))


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(), filename=str(path))


def _names(path: Path) -> set[str]:
    """Every dotted attribute chain and imported name used in a file."""
    out = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            out.add(f"{node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_the_probe_sees_what_it_looks_for(tmp_path):
    """Positive control for the checks below."""
    probe = tmp_path / "probe.py"
    probe.write_text("import os, secrets, time\nassert x\nos.environ; os.urandom(1); time.time()\n")
    assert {"os.environ", "os.urandom", "secrets", "time.time"} <= _names(probe)
    assert any(isinstance(n, ast.Assert) for n in ast.walk(_tree(probe)))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_assert_statements(path):
    assert not [n.lineno for n in ast.walk(_tree(path)) if isinstance(n, ast.Assert)]


# The CLI's config directory follows $XDG_CONFIG_HOME; client/_local.py is the one file
# allowed to read the environment, and only that variable (never a password or a key).
ENV_READER = "_local.py"


@pytest.mark.parametrize("path", [p for p in FILES if p.name != ENV_READER], ids=lambda p: p.name)
def test_no_environment_reads(path):
    assert not _names(path) & {"os.environ", "os.getenv", "os.environb"}


def test_the_one_environment_read_is_xdg_config_home():
    source = (PACKAGE / ENV_READER).read_text()
    assert source.count("os.environ") == 1 and 'os.environ.get("XDG_CONFIG_HOME")' in source
    assert not _names(PACKAGE / ENV_READER) & {"os.getenv", "os.environb"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_randomness_and_time_only_through_the_seams(path):
    names = _names(path)
    if path.name != "_rand.py":
        assert not names & {"os.urandom", "secrets", "random"}
        assert not any(n.endswith(".generate") for n in names)  # keys come from seeds we draw
    if path.name != "_clock.py":
        assert not names & {"time.time", "time.time_ns", "datetime"}


def test_every_error_is_a_client_crypto_error_with_a_code():
    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(issubclass(c, errors.ClientCryptoError) for c in classes)
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)) and all(code.isascii() for code in codes)
