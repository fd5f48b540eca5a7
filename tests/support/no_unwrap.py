"""Test-only: agecrypt with every way to a private key or a plaintext taken away.

Issues 12 and 13 ("What it must show" 1): the server holds no unwrapped key and
decrypts nothing. A live server started with ``SECURECHAT_TEST_NO_UNWRAP=<file>``
(read by tests/settings.py, never by securechat.settings) imports this module
while Django loads its settings, before any app module: :func:`install` replaces
agecrypt's identity parsing and construction and every decrypt entry point with
functions that append one line to ``<file>`` (name, pid, and the frame that called
it) and raise :class:`UnwrapInServer`. A server path that still unwraps fails, and
the call is on record even where the server swallows the exception.

What stays: encryption to recipients, header parsing, ``inspect`` and recipient
parsing — they touch no secret. tests/securechat/test_no_unwrap.py runs every
account, message and file flow against such a server; its positive control reads
the line :func:`install` logs and asks the test-only URLconf
(:mod:`tests.support.no_unwrap_urls`) to call each entry point inside the
server process.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "SECURECHAT_TEST_NO_UNWRAP"
BANNER = "no-unwrap: agecrypt identity parsing and decryption are disabled in pid"


# id -> (original function, label) while installed: kept alive so ids stay unique.
_ORIGINALS: dict[int, tuple[object, str]] = {}


class UnwrapInServer(RuntimeError):  # noqa: N818 - it names what happened
    """A patched agecrypt entry point was called."""


def _targets():
    """``(owner, attribute, kind)`` of every entry point: parsing or making an identity,
    unwrapping a file key, opening a payload, decrypting."""
    import agecrypt
    from agecrypt import (
        filecipher,
        header,
        hybrid,
        identityfile,
        primitives,
        scrypt,
        stream,
        streaming,
        x25519,
    )

    functions = [(identityfile, "parse_identity"), (identityfile, "parse_identities"),
                 (agecrypt, "parse_identity"), (agecrypt, "parse_identities"),
                 (streaming, "decrypt"), (streaming, "decrypt_stream"),
                 (agecrypt, "decrypt"), (agecrypt, "decrypt_stream"),
                 (header, "unwrap_file_key"), (filecipher, "unwrap_file_key"),
                 (primitives, "aead_unwrap"), (x25519, "aead_unwrap"),
                 (scrypt, "aead_unwrap")]
    out = [(owner, name, "function") for owner, name in functions]
    for cls in (x25519.X25519Identity, hybrid.HybridIdentity):
        out += [(cls, "__init__", "method"), (cls, "_unwrap_stanza", "method"),
                (cls, "generate", "classmethod"), (cls, "from_seed", "classmethod"),
                (cls, "from_bytes", "classmethod"), (cls, "from_string", "classmethod")]
    out += [(scrypt.ScryptIdentity, "__init__", "method"),
            (scrypt.ScryptIdentity, "_unwrap_stanza", "method"),
            (header.Identity, "_unwrap", "method"),
            (filecipher.FileCipher, "open", "classmethod"),
            (filecipher.FileCipher, "_open_source", "classmethod"),
            (filecipher.FileCipher, "decrypt_chunk", "method"),
            (filecipher.FileCipher, "decrypt_range", "method"),
            (stream.ChunkCipher, "open", "method"),
            (stream.ChunkCipher, "iter_open", "method")]
    return out


def _label(owner, name: str) -> str:
    return f"{getattr(owner, '__module__', '')}.{owner.__qualname__}.{name}" \
        if isinstance(owner, type) else f"{owner.__name__}.{name}"


def _raiser(label: str, log_path: Path) -> Callable:
    def refuse(*_args, **_kwargs):
        stack = traceback.extract_stack()[:-1]
        caller = next((f for f in reversed(stack)  # the first frame outside agecrypt
                       if "/agecrypt/" not in f.filename), stack[-1])
        with open(log_path, "a") as log:  # one line per call, even if the caller swallows it
            log.write(f"{label} pid={os.getpid()} from {caller.filename}:{caller.lineno}\n")
        raise UnwrapInServer(f"{label} was called in a process that must not unwrap")
    refuse.__name__ = refuse.__qualname__ = label.rsplit(".", 1)[-1]
    refuse.no_unwrap = label
    return refuse


def install(log_path: str | Path) -> list[tuple[object, str, object]]:
    """Patch every entry point (and every module-level name already bound to one); return
    what :func:`uninstall` puts back. Logs :data:`BANNER` on stderr."""
    log_path = Path(log_path)
    saved, originals = [], {}
    _ORIGINALS.clear()
    for owner, name, kind in _targets():
        current = owner.__dict__[name]
        saved.append((owner, name, current))
        label = _label(owner, name)
        refuse = _raiser(label, log_path)
        setattr(owner, name, classmethod(refuse) if kind == "classmethod" else refuse)
        if kind == "function":
            originals[id(current)] = refuse
            _ORIGINALS[id(current)] = (current, label)
    for module in list(sys.modules.values()):  # ``from agecrypt import decrypt`` made earlier
        for attr, value in list(getattr(module, "__dict__", {}).items()):
            if id(value) in originals and callable(value):
                saved.append((module, attr, value))
                setattr(module, attr, originals[id(value)])
    names = sorted({_label(o, n) for o, n, _ in _targets()})
    print(f"{BANNER} {os.getpid()}: {len(names)} entry points: {', '.join(names)}",
          file=sys.stderr, flush=True)
    return saved


def uninstall(saved: list[tuple[object, str, object]]) -> None:
    for owner, name, value in reversed(saved):
        setattr(owner, name, value)


@contextmanager
def disabled(log_path: str | Path) -> Iterator[None]:
    """The patch inside this (test) process for a block, e.g. around a management command."""
    saved = install(log_path)
    try:
        yield
    finally:
        uninstall(saved)


def unpatched_references() -> list[str]:
    """``module.name`` of every loaded module-level name still bound to an original entry
    point (a copy :func:`install` missed): must be empty while the patch is in."""
    return sorted(f"{getattr(module, '__name__', '?')}.{attr} = {_ORIGINALS[id(value)][1]}"
                  for module in list(sys.modules.values())
                  for attr, value in list(getattr(module, "__dict__", {}).items())
                  if id(value) in _ORIGINALS and value is _ORIGINALS[id(value)][0])


def calls(log_path: str | Path) -> list[str]:
    path = Path(log_path)
    return path.read_text().splitlines() if path.exists() else []
