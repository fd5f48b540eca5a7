"""Settings come from the environment, with safe development defaults."""

import os
import re
import secrets
import stat
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from tests.support.live import REPO_ROOT


def run_python(code: str, env_overrides: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECURECHAT_", "DJANGO_"))}
    env.pop("SECRET_KEY", None)
    env.pop("DEBUG", None)
    env.update({"DJANGO_SETTINGS_MODULE": "securechat.settings",
                "SECURECHAT_VAR_DIR": str(tmp_path / "var")})
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


PRINT_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def test_development_secret_key_is_generated_once_into_a_private_file(tmp_path):
    """Without SECRET_KEY, one key is generated into var/secret_key (mode 0600) and reused."""
    first = run_python(PRINT_KEY, {}, tmp_path)
    second = run_python(PRINT_KEY, {}, tmp_path)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "secret_key"
    assert first.stdout.strip() == second.stdout.strip() == key_file.read_text()
    assert len(first.stdout.strip()) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    other = run_python(PRINT_KEY, {}, tmp_path / "elsewhere")
    assert other.stdout.strip() != first.stdout.strip()


def test_secret_key_from_the_environment_wins(tmp_path):
    """SECRET_KEY in the environment is used as is and no file is written."""
    result = run_python(PRINT_KEY, {"SECRET_KEY": "k" * 60}, tmp_path)
    assert result.stdout.strip() == "k" * 60
    assert not (tmp_path / "var" / "secret_key").exists()


def test_debug_is_off_unless_asked(tmp_path):
    """DEBUG is False by default, True only with DEBUG=1, and nonsense is refused."""
    code = "from django.conf import settings; print(settings.DEBUG)"
    assert run_python(code, {}, tmp_path).stdout.strip() == "False"
    assert run_python(code, {"DEBUG": "1"}, tmp_path).stdout.strip() == "True"
    bad = run_python(code, {"DEBUG": "maybe"}, tmp_path)
    assert bad.returncode != 0 and "DEBUG must be a boolean" in bad.stderr


def test_one_origins_setting_feeds_csrf_and_hosts(tmp_path):
    """SECURECHAT_ORIGINS sets CSRF_TRUSTED_ORIGINS and, by default, ALLOWED_HOSTS."""
    code = ("from django.conf import settings; "
            "print(settings.CSRF_TRUSTED_ORIGINS, settings.ALLOWED_HOSTS)")
    result = run_python(code, {"SECURECHAT_ORIGINS": "https://chat.example.com:8443"}, tmp_path)
    assert result.stdout.strip() == "['https://chat.example.com:8443'] ['chat.example.com']"
    bad = run_python(code, {"SECURECHAT_ORIGINS": "chat.example.com"}, tmp_path)
    assert bad.returncode != 0 and "SECURECHAT_ORIGINS" in bad.stderr


def test_channel_layer_follows_redis_url(tmp_path):
    """REDIS_URL selects the Redis pub/sub layer without socket timeout; none means in-memory."""
    code = ("from django.conf import settings; c = settings.CHANNEL_LAYERS['default']; "
            "print(c['BACKEND'], c.get('CONFIG', {}).get('hosts'))")
    with_redis = run_python(code, {"REDIS_URL": "redis://127.0.0.1:6379/0"}, tmp_path)
    assert with_redis.stdout.strip() == (
        "channels_redis.pubsub.RedisPubSubChannelLayer "
        "[{'address': 'redis://127.0.0.1:6379/0', 'socket_timeout': None}]"
    )
    without = run_python(code, {"REDIS_URL": ""}, tmp_path)
    assert without.stdout.strip() == "channels.layers.InMemoryChannelLayer None"


def test_database_url_selects_postgresql(tmp_path):
    """DATABASE_URL selects PostgreSQL; without it SQLite with IMMEDIATE transactions."""
    code = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"
    pg = run_python(code, {"DATABASE_URL": "postgres://u@127.0.0.1:5432/x"}, tmp_path)
    assert pg.stdout.strip() == "django.db.backends.postgresql"
    sqlite = run_python(code, {"DATABASE_URL": ""}, tmp_path)
    assert sqlite.stdout.strip() == "django.db.backends.sqlite3"


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    """SECURECHAT_ENV=production with no SECRET_KEY stops with a clear message."""
    result = run_python("import django; django.setup()",
                        {"SECURECHAT_ENV": "production",
                         "SECURECHAT_ORIGINS": "https://chat.example.com"}, tmp_path)
    assert result.returncode != 0
    assert "needs SECRET_KEY" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    """manage.py check --deploy reports nothing at all, with no check silenced."""
    env = {
        "SECURECHAT_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "SECURECHAT_ORIGINS": "https://chat.example.com",
    }
    code = "from django.conf import settings; print(settings.SILENCED_SYSTEM_CHECKS)"
    assert run_python(code, env, tmp_path).stdout.strip() == "[]"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SECURECHAT_", "DJANGO_"))}
    full_env.update(env, DJANGO_SETTINGS_MODULE="securechat.settings",
                    SECURECHAT_VAR_DIR=str(tmp_path / "var"))
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=REPO_ROOT, env=full_env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    # Positive control: the same check does report a development configuration.
    full_env.update(SECURECHAT_ENV="development")
    dev = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=REPO_ROOT, env=full_env, capture_output=True, text=True, timeout=120,
    )
    assert "security.W004" in dev.stdout + dev.stderr


@pytest.mark.dbsensitive
@pytest.mark.django_db
def test_database_vendor_is_the_one_this_leg_promised():
    """The SQLite leg runs on SQLite (WAL) and the PostgreSQL leg on PostgreSQL."""
    expected = os.environ.get("EXPECT_DB_VENDOR", "sqlite")
    assert connection.vendor == expected
    if expected == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
        assert str(settings.DATABASES["default"]["NAME"]).endswith(".sqlite3")


PRINT_RATES = ("from django.conf import settings; "
               "print(sorted(settings.SECURECHAT_RATE_LIMITS.items()))")


def test_rate_limits_are_settings_with_the_documented_defaults(tmp_path):
    """SECURECHAT_RATE_<SCOPE>=ATTEMPTS/SECONDS overrides one scope (an office behind NAT
    raises the per-address login cap); the defaults are those docs/operations.md lists;
    a malformed value stops the process with the variable's name."""
    defaults = run_python(PRINT_RATES, {}, tmp_path)
    assert defaults.returncode == 0, defaults.stderr
    doc = (REPO_ROOT / "docs" / "operations.md").read_text()
    documented = {name.lower(): (int(attempts), int(seconds)) for name, attempts, seconds in
                  re.findall(r"^\| `SECURECHAT_RATE_([A-Z_]+)` \| (\d+)/(\d+) \|", doc, re.M)}
    assert len(documented) >= 10
    # Every limit the server applies is documented with its default, and nothing else is.
    assert dict(eval(defaults.stdout)) == documented  # noqa: S307 - our own repr
    raised = run_python(PRINT_RATES, {"SECURECHAT_RATE_LOGIN_ADDRESS": "600/300"}, tmp_path)
    assert ("login_address", (600, 300)) in eval(raised.stdout)  # noqa: S307
    bad = run_python(PRINT_RATES, {"SECURECHAT_RATE_LOGIN_ADDRESS": "600 per 5 min"}, tmp_path)
    assert bad.returncode != 0 and "SECURECHAT_RATE_LOGIN_ADDRESS" in bad.stderr
