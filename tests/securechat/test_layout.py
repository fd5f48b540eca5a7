"""The layout of DESIGN.md §2 and its one-way package dependencies."""

import ast
from pathlib import Path

import pytest

from tests.support.live import REPO_ROOT

# Each package may import those to its left, never those to its right.
ORDER = ["agecrypt", "accounts", "messaging", "filestore"]


def imported_top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", ORDER)
def test_packages_import_only_to_their_left(package):
    """agecrypt ← accounts ← messaging ← filestore: no import points right (or at securechat)."""
    forbidden = set(ORDER[ORDER.index(package) + 1:]) | {"securechat"}
    if package == "agecrypt":
        forbidden |= {"django", "channels", "django_otp"}
    files = list((REPO_ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    offenders = {
        str(f.relative_to(REPO_ROOT)): sorted(imported_top_level_modules(f) & forbidden)
        for f in files
    }
    assert {f: bad for f, bad in offenders.items() if bad} == {}


# What the server may take from agecrypt (issues 12-14: the server holds no unwrapped key
# and decrypts nothing): header parsing and the keyless structure checks, the constants
# of the format, its errors, and the parsing of public keys (the directory checks the keys
# clients publish; signatures are verified with ``cryptography``'s Ed25519PublicKey, which
# agecrypt does not wrap). Never an identity, ``decrypt``, ``FileCipher`` or ``encrypt``.
SERVER_PACKAGES = ["accounts", "messaging", "filestore", "securechat"]
SERVER_MAY_USE_FROM_AGECRYPT = {
    # header parsing and structure without keys
    "agecrypt.header.parse_header", "agecrypt.header.Header", "agecrypt.header.Stanza",
    "agecrypt.header.VERSION_LINE", "agecrypt._io.Source", "agecrypt.inspect",
    "agecrypt.HeaderInfo", "agecrypt.expected_size", "agecrypt.primitives.b64decode",
    "agecrypt.CHUNK_SIZE", "agecrypt.ENC_CHUNK_SIZE", "agecrypt.stream.NONCE_SIZE",
    "agecrypt.stream.plaintext_size_of_payload",
    # errors
    "agecrypt.AgeError", "agecrypt.HeaderError", "agecrypt.KeyFormatError",
    "agecrypt.errors.AgeError", "agecrypt.errors.HeaderError",
    # public keys, for checking what clients publish
    "agecrypt.X25519Recipient", "agecrypt.HybridRecipient", "agecrypt.parse_recipient",
}


def agecrypt_names_used(path: Path) -> set[str]:
    """Every ``agecrypt…`` name a file takes: ``from agecrypt[.mod] import name`` gives
    ``agecrypt[.mod].name``; ``import agecrypt[.mod]`` gives each ``agecrypt[.mod].name``
    attribute read in the file (and the bare module if it is used otherwise)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names, modules = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "agecrypt":
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            modules.update(alias.asname or alias.name for alias in node.names
                           if alias.name.split(".")[0] == "agecrypt")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Del):
            dotted = ast.unparse(node)
            owner = dotted.rsplit(".", 1)[0]
            if owner in modules:
                names.add(dotted)
    return names


def agecrypt_overreach(root: Path, packages: list[str]) -> dict[str, list[str]]:
    """Each server file with the agecrypt names it uses beyond the allowed ones."""
    found = {}
    for package in packages:
        for f in sorted((root / package).rglob("*.py")):
            extra = sorted(agecrypt_names_used(f) - SERVER_MAY_USE_FROM_AGECRYPT)
            if extra:
                found[str(f.relative_to(root))] = extra
    return found


def test_the_server_takes_from_agecrypt_only_header_parsing_and_public_keys():
    """accounts, messaging, filestore and securechat parse headers and public keys; none
    parses an identity, unwraps, decrypts or encrypts (the clients do)."""
    assert agecrypt_overreach(REPO_ROOT, SERVER_PACKAGES) == {}


def test_the_agecrypt_probe_sees_an_identity_or_a_decrypt(tmp_path):
    """Positive control: each way of reaching a forbidden name is reported; allowed ones
    are not."""
    (tmp_path / "accounts").mkdir()
    (tmp_path / "accounts" / "ok.py").write_text(
        "import agecrypt\nfrom agecrypt.header import parse_header\n"
        "from agecrypt import AgeError, CHUNK_SIZE\nx = agecrypt.inspect\n")
    (tmp_path / "accounts" / "bad.py").write_text(
        "import agecrypt\nfrom agecrypt import FileCipher\n"
        "from agecrypt.identityfile import parse_identities\n"
        "def f(c, i):\n    return agecrypt.decrypt(c, [agecrypt.X25519Identity.from_string(i)])\n")
    (tmp_path / "accounts" / "worse.py").write_text(
        "import agecrypt.streaming as s\ns.decrypt_stream(None, [])\n")
    assert agecrypt_overreach(tmp_path, ["accounts"]) == {
        "accounts/bad.py": ["agecrypt.FileCipher", "agecrypt.X25519Identity",
                            "agecrypt.decrypt", "agecrypt.identityfile.parse_identities"],
        "accounts/worse.py": ["s.decrypt_stream"]}


# client/ (the CLI and client library) imports only agecrypt of the project's packages,
# and never Django: it speaks HTTP to the server like the browser does.
CLIENT_FORBIDDEN = {"django", "channels", "django_otp", "daphne", "accounts", "messaging",
                    "filestore", "securechat"}


def forbidden_imports_of_client(root: Path) -> dict[str, list[str]]:
    """Each file under ``root`` with the forbidden top-level modules it imports."""
    files = list(root.rglob("*.py"))
    assert files, f"{root} has no Python files"
    found = {str(f.relative_to(root)): sorted(imported_top_level_modules(f) & CLIENT_FORBIDDEN)
             for f in files}
    return {f: bad for f, bad in found.items() if bad}


def test_client_imports_no_django_and_no_server_package():
    """client/ ← agecrypt only: no Django, no accounts/messaging/filestore/securechat."""
    assert forbidden_imports_of_client(REPO_ROOT / "client") == {}


def test_the_client_probe_sees_a_forbidden_import(tmp_path):
    """Positive control: a client module importing Django or a server app is reported."""
    (tmp_path / "ok.py").write_text("import agecrypt\nfrom client import errors\n")
    (tmp_path / "bad.py").write_text("from django.conf import settings\nimport accounts.models\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "worse.py").write_text("def f():\n    from securechat import asgi\n")
    assert forbidden_imports_of_client(tmp_path) == {
        "bad.py": ["accounts", "django"], "sub/worse.py": ["securechat"]}


def test_the_dependency_probe_sees_a_forbidden_import(tmp_path):
    """Positive control: the parser does report an import that points right."""
    probe = tmp_path / "probe.py"
    probe.write_text("from messaging.models import Message\nimport filestore.tus\n")
    assert {"messaging", "filestore"} <= imported_top_level_modules(probe)


def test_layout_folders_exist():
    """The folders and files DESIGN.md §2 names are all there."""
    for name in ["manage.py", "requirements.txt", "Makefile", "README.md", "pyproject.toml",
                 "securechat/settings.py", "securechat/asgi.py", "securechat/urls.py",
                 "agecrypt", "accounts", "messaging", "filestore", "templates", "static",
                 "tests/conftest.py", "bench", "docs/api.md", "docs/security.md",
                 "docs/operations.md", "docs/benchmarks.md", ".ci/run"]:
        assert (REPO_ROOT / name).exists(), name
