"""Unsafe production configurations are refused (issue 17; securechat/checks.py).

Each check fires on the bad configuration and stays silent on the good one, as a
function, through ``manage.py check --deploy`` and at the start of the ASGI application
under production settings (uvicorn runs no checks, so the entry point does).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from importlib import metadata

import pytest

from securechat.checks import (
    IN_MEMORY_LAYER,
    SECURITY_FLOORS,
    channel_layer_errors,
    dependency_errors,
    floor_for,
    secret_key_errors,
)
from tests.support.live import REPO_ROOT

GOOD_KEY = secrets.token_urlsafe(64)
REDIS_LAYER = "channels_redis.pubsub.RedisPubSubChannelLayer"


@pytest.mark.parametrize("key", ["change-me", "django-insecure-" + "a1b2c3" * 10,
                                 "x" * 80, "short-but-random-Q9z", "CHANGEME" + GOOD_KEY],
                         # Fixed names: GOOD_KEY is drawn per process (pytest-xdist's workers
                         # must collect the same test ids).
                         ids=["placeholder", "django-insecure", "one-character", "short",
                              "changeme-prefix"])
def test_placeholder_or_weak_secret_key_is_an_error(key):
    assert [e.id for e in secret_key_errors(key)] == ["securechat.E101"]


def test_a_generated_secret_key_passes():
    assert secret_key_errors(GOOD_KEY) == []


def test_in_memory_layer_with_several_processes_is_an_error():
    assert [e.id for e in channel_layer_errors(2, IN_MEMORY_LAYER)] == ["securechat.E102"]
    assert channel_layer_errors(1, IN_MEMORY_LAYER) == []  # one process: fine
    assert channel_layer_errors(4, REDIS_LAYER) == []


def installed_with(**versions):
    def version_of(package):
        if package in versions:
            return versions[package]
        return metadata.version(package)
    return version_of


@pytest.mark.parametrize("package,unsafe,safe", [
    ("daphne", "4.2.1", "4.2.2"), ("Django", "6.1.0", "6.1.1"), ("Django", "6.0.7", "6.0.8"),
    ("Django", "5.2.99", "6.2.0"), ("channels", "3.0.2", "4.3.2"),
    ("uvicorn", "0.11.6", "0.54.0"), ("cryptography", "44.0.0", "44.0.1"),
])
def test_dependencies_below_their_security_floor_are_errors(package, unsafe, safe):
    errors = dependency_errors(installed_with(**{package: unsafe}))
    assert [(e.id, e.obj) for e in errors] == [("securechat.E103", package)]
    assert dependency_errors(installed_with(**{package: safe})) == []


def test_the_installed_versions_pass_and_each_floor_says_why():
    assert dependency_errors() == []
    assert floor_for("6.1.3", SECURITY_FLOORS["Django"][0]) == "6.1.1"
    for floors, reason in SECURITY_FLOORS.values():
        assert floors and "CVE-" in reason


def production_env(tmp_path, **overrides) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECURECHAT_", "DJANGO_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "securechat.settings", "SECURECHAT_ENV": "production",
                "SECRET_KEY": GOOD_KEY, "SECURECHAT_ORIGINS": "https://chat.example.com",
                "SECURECHAT_VAR_DIR": str(tmp_path / "var"),
                "REDIS_URL": "redis://127.0.0.1:6379/0", "SECURECHAT_PROCESSES": "2"})
    env.update(overrides)
    return env


def run(argv, env) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


BAD = {"SECRET_KEY": "change-me-" + "a" * 50, "REDIS_URL": ""}


@pytest.mark.parametrize("environment", ["production", "development"])
def test_check_deploy_reports_both_and_is_silent_when_good(tmp_path, environment):
    bad = run([sys.executable, "manage.py", "check", "--deploy"],
              production_env(tmp_path, SECURECHAT_ENV=environment, **BAD))
    assert bad.returncode != 0
    assert "securechat.E101" in bad.stderr and "securechat.E102" in bad.stderr
    good = run([sys.executable, "manage.py", "check", "--deploy"],
               production_env(tmp_path, SECURECHAT_ENV=environment))
    assert "securechat.E1" not in good.stdout + good.stderr


def test_production_asgi_application_refuses_to_start(tmp_path):
    """Importing the ASGI entry point (what uvicorn does) fails on the bad configuration."""
    code = [sys.executable, "-c", "import securechat.asgi"]
    bad = run(code, production_env(tmp_path, **BAD))
    assert bad.returncode != 0
    assert "Refusing to start" in bad.stderr
    assert "securechat.E101" in bad.stderr and "securechat.E102" in bad.stderr
    good = run(code, production_env(tmp_path))
    assert good.returncode == 0, good.stderr
