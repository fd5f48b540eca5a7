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
