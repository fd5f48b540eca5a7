"""SecureChat settings, read from the environment.

Every knob an operator may turn is an environment variable listed in the
README. Development defaults are embedded so that ``make run`` works on a
fresh machine; ``SECURECHAT_ENV=production`` turns on the HTTPS-only cookie
and header settings that ``manage.py check --deploy`` asks for.
"""

import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SECURECHAT_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = os.environ.get(name, default) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {sorted(choices)}, not {value!r}")
    return value


def development_secret_key(name: str = "secret_key", nbytes: int = 50) -> str:
    """A secret generated once into a git-ignored 0600 file under var/, for development only."""
    path = VAR_DIR / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_urlsafe(nbytes)
    # O_EXCL: two processes starting together keep the first key written.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


ENVIRONMENT = env_choice("SECURECHAT_ENV", "development", {"development", "production"})
PRODUCTION = ENVIRONMENT == "production"

SECRET_KEY = os.environ.get("SECRET_KEY") or development_secret_key()
# Version 2's server secrets (DESIGN.md §3, §7), outside the database and in every backup:
# from the environment, else generated once into 0600 files in the state directory (var/).
# PRELOGIN_KEY makes account salts (never rotated: unknown addresses' salts would change);
# AUTH_PEPPER keys the stored HMAC of each auth key (losing it locks every login out);
# DEVICE_KEY_SECRET keys the per-session device keys (losing it only ends unlocked sessions).
PRELOGIN_KEY = os.environ.get("PRELOGIN_KEY") or development_secret_key("prelogin_key")
AUTH_PEPPER = os.environ.get("AUTH_PEPPER") or development_secret_key("auth_pepper")
DEVICE_KEY_SECRET = (os.environ.get("DEVICE_KEY_SECRET")
                     or development_secret_key("device_key_secret"))
# TOTP seeds are sealed under this key (accounts.totp_keys), kept outside the
# database like SECRET_KEY and backed up with it: 32 random bytes, base64url.
# To rotate, move the old key into SECURECHAT_TOTP_OLD_KEYS (comma-separated),
# set a new one and run `manage.py reseal_totp_keys --yes`.
SECURECHAT_TOTP_KEY = (os.environ.get("SECURECHAT_TOTP_KEY")
                       or development_secret_key("totp_key", 32))
SECURECHAT_TOTP_OLD_KEYS = env_list("SECURECHAT_TOTP_OLD_KEYS", [])
DEBUG = env_bool("DEBUG", False)

# One list of origins ("scheme://host[:port]") feeds CSRF and the websocket
# origin check, so the two can never disagree.
SECURECHAT_ORIGINS = env_list(
    "SECURECHAT_ORIGINS",
    [] if PRODUCTION else ["http://127.0.0.1:8000", "http://localhost:8000"],
)
for _origin in SECURECHAT_ORIGINS:
    _parts = urlsplit(_origin)
    if (_parts.scheme not in {"http", "https"} or not _parts.hostname
            or _parts.path not in {"", "/"}):
        raise ImproperlyConfigured(
            f"SECURECHAT_ORIGINS entries look like https://chat.example.com[:port], not {_origin!r}"
        )
CSRF_TRUSTED_ORIGINS = SECURECHAT_ORIGINS
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", sorted({urlsplit(o).hostname for o in SECURECHAT_ORIGINS})
)

INSTALLED_APPS = [
    # daphne first: its runserver replaces Django's (DESIGN.md §7).
    "daphne",
    # Before django.contrib.auth: its createsuperuser refuses, pointing at createadmin.
    "accounts.cli",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "accounts",
    "messaging",
    "filestore",
    # The project package itself: its system checks (securechat/checks.py: production
    # refusals) and its management commands (``version``).
    "securechat",
]

MIDDLEWARE = [
    # First, so that its process_view runs even when a later one answers instead.
    "securechat.metrics.RouteLabelMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.LoginSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # The admin's own <script> tags get integrity too (the site's come from the manifest).
    "securechat.sri.admin_script_integrity",
    "accounts.middleware.JsonMethodNotAllowedMiddleware",
]

ROOT_URLCONF = "securechat.urls"
ASGI_APPLICATION = "securechat.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
            # {% load bundle %}: SRI-pinned script tags from the bundle manifest.
            "libraries": {"bundle": "securechat.bundle"},
        },
    },
]

# --- Database ---------------------------------------------------------------
# PostgreSQL when DATABASE_URL is set; otherwise SQLite in WAL mode, with
# IMMEDIATE transactions so writers queue on the lock instead of failing.
# Connections persist (SECURECHAT_DB_CONN_MAX_AGE seconds, 0 = one per request): each
# thread that touches the database keeps its own, checked before reuse. The websocket's
# database work runs on a fixed set of threads, so this is the process's pool
# (issue 13 "speed": a new connection per call cost more than the send itself; measured in
# docs/benchmarks.md). PostgreSQL must allow processes x threads connections.
DB_CONN_MAX_AGE = env_int("SECURECHAT_DB_CONN_MAX_AGE", 600)
if DB_CONN_MAX_AGE < 0:
    raise ImproperlyConfigured("SECURECHAT_DB_CONN_MAX_AGE is seconds >= 0 (0: no reuse)")
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"],
                                                  conn_max_age=DB_CONN_MAX_AGE,
                                                  conn_health_checks=True)}
    DATABASES["default"].setdefault("TEST", {})
    if os.environ.get("SECURECHAT_TEST_DB_NAME"):
        DATABASES["default"]["TEST"]["NAME"] = os.environ["SECURECHAT_TEST_DB_NAME"]
else:
    _sqlite_path = Path(os.environ.get("SQLITE_PATH", VAR_DIR / "db.sqlite3"))
    # State is private whatever the umask: 0700 (docs/operations.md).
    _sqlite_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _sqlite_path,
            "CONN_MAX_AGE": DB_CONN_MAX_AGE,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                ),
            },
            # Tests use a file, never ":memory:": live server processes share it
            # and the at-rest tests read its bytes.
            "TEST": {
                "NAME": os.environ.get(
                    "SECURECHAT_TEST_DB_NAME", str(VAR_DIR / "test-db.sqlite3")
                ),
            },
        }
    }

# Threads that run version 2 websocket sends (messaging.consumers), each with its own
# persistent connection: on PostgreSQL their transactions and commits overlap (sends to one
# conversation still queue on its row lock); SQLite has one writer at a time, and a
# second thread would only wait in its busy handler, so it keeps Channels' one thread.
SECURECHAT_DB_SEND_THREADS = env_int("SECURECHAT_DB_SEND_THREADS",
                                     4 if os.environ.get("DATABASE_URL") else 1)
if SECURECHAT_DB_SEND_THREADS < 1:
    raise ImproperlyConfigured("SECURECHAT_DB_SEND_THREADS is at least 1")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels ---------------------------------------------------------------
# RedisPubSubChannelLayer, chosen by measurement (docs/benchmarks.md,
# "Channel layer"): lossless in a burst that the list-based layer dropped,
# and faster. redis-py 8's 5 s socket timeout would kill idle subscribers.
REDIS_URL = os.environ.get("REDIS_URL", "")
CHANNEL_LAYER_PREFIX = os.environ.get("SECURECHAT_CHANNEL_PREFIX", "securechat")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": CHANNEL_LAYER_PREFIX,
            },
        }
    }
else:
    # One process only: the in-memory layer does not cross processes.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# How many server processes the deployment runs (behind a balancer); with more than one,
# a system check refuses the in-memory channel layer (securechat.E102).
SECURECHAT_PROCESSES = env_int("SECURECHAT_PROCESSES", 1)

# --- Cache ------------------------------------------------------------------
# Rate-limit counters must be shared by every process: Redis when configured.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CHANNEL_LAYER_PREFIX,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Authentication ---------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# --- Sessions and cookies ---------------------------------------------------
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = env_int("SECURECHAT_SESSION_AGE", 14 * 24 * 3600)
# Absolute lifetime of a login is SESSION_COOKIE_AGE (from the password step);
# a login unused for SECURECHAT_SESSION_IDLE_SECONDS ends (sockets included), and
# a half-login (code or enrolment pending) ends SECURECHAT_HALF_LOGIN_SECONDS
# after the password step (accounts.actions.sessions.check_login_current).
SECURECHAT_SESSION_IDLE_SECONDS = env_int("SECURECHAT_SESSION_IDLE_SECONDS", 3 * 24 * 3600)
SECURECHAT_HALF_LOGIN_SECONDS = env_int("SECURECHAT_HALF_LOGIN_SECONDS", 10 * 60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = PRODUCTION
# The JSON API reads the token from /api/v1/csrf, so the cookie stays HttpOnly.
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "securechat.errors.csrf_failure"

# --- Security headers -------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    # 'wasm-unsafe-eval' lets pinned scripts compile WebAssembly (the file AEAD,
    # static/js/crypto/aead.js; docs/security.md) and nothing else: never 'unsafe-eval',
    # which would also allow eval() and new Function(). Blob: Workers inherit it.
    "script-src": [CSP.SELF, CSP.WASM_UNSAFE_EVAL],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", "blob:"],
    # Previews play decrypted audio and video from blob: URLs (static/js/v2/files/preview.js).
    "media-src": [CSP.SELF, "blob:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    # Workers run checked bytes from blob: URLs (static/js/crypto/worker-start.js):
    # worker scripts cannot carry SRI, so they are fetched with integrity first.
    # 'self' is for the download Service Worker (/dl/sw-<hash>.js, securechat/serviceworker.py),
    # which must be registered from its own URL: browsers cannot pin it (docs/security.md).
    "worker-src": ["blob:", CSP.SELF],
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers probe processes directly over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^api/v1/health(/live|/ready)?$", r"^api/v1/metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if not os.environ.get("SECRET_KEY"):
        raise ImproperlyConfigured("SECURECHAT_ENV=production needs SECRET_KEY in the environment")
    if not SECURECHAT_ORIGINS:
        raise ImproperlyConfigured("SECURECHAT_ENV=production needs SECURECHAT_ORIGINS")

# --- Static and media -------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Browser bundles (``make bundle``): hash-named files under static/dist/ and the manifest
# the ``bundle`` template library reads (tus-js-client is copied in there from npm too).
SECURECHAT_BUNDLE_STATIC_PREFIX = "dist"
SECURECHAT_BUNDLE_MANIFEST = BASE_DIR / "static" / SECURECHAT_BUNDLE_STATIC_PREFIX / "manifest.json"
# Where collectstatic writes: production puts it in the service's state directory
# (the checkout is not the service user's to write).
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Development and tests serve straight from static/ (no collectstatic step).
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION
# Request bodies go to the raw upload application (filestore); Django itself
# only ever sees small JSON and form posts. securechat.body_limits refuses a larger body
# (413 too_big) before Django reads it: 64 KiB by default; the version 2 routes that
# carry an envelope or a message box get their own limits (below). Django's own limits
# equal the largest, so a body let through never rolls
# over to a temporary file (docs/security.md, "Limits").
SECURECHAT_BODY_LIMITS = {
    "default": 64 * 1024,
    # The version 2 pin blob: up to 1 MiB, base64 in JSON.
    r"^/api/v1/me/pins$": 1536 * 1024,
}
# Version 2 conversations (DESIGN.md §5): at most this many members; an epoch envelope is
# at most members x 1,600 + 4,096 bytes (base64 in JSON, beside a statement of 80 bytes a
# member and the operation it may cover); a message box at most 48 KiB.
SECURECHAT_V2_MEMBER_LIMIT = int(os.environ.get("SECURECHAT_V2_MEMBER_LIMIT", "100"))
_V2_ENVELOPE_BODY = ((SECURECHAT_V2_MEMBER_LIMIT * 1600 + 4096) * 4 // 3
                     + SECURECHAT_V2_MEMBER_LIMIT * 120 + 32 * 1024)
SECURECHAT_V2_BODY_LIMITS = {
    "conversations": _V2_ENVELOPE_BODY, "members": _V2_ENVELOPE_BODY,
    "epochs": _V2_ENVELOPE_BODY, "messages": 96 * 1024,
}
SECURECHAT_BODY_LIMITS.update({
    r"^/api/v1/v2/conversations$": SECURECHAT_V2_BODY_LIMITS["conversations"],
    r"^/api/v1/v2/conversations/[0-9a-f]{32}/members$": SECURECHAT_V2_BODY_LIMITS["members"],
    r"^/api/v1/v2/conversations/[0-9a-f]{32}/epochs$": SECURECHAT_V2_BODY_LIMITS["epochs"],
    r"^/api/v1/v2/conversations/[0-9a-f]{32}/messages$": SECURECHAT_V2_BODY_LIMITS["messages"],
})
DATA_UPLOAD_MAX_MEMORY_SIZE = max(SECURECHAT_BODY_LIMITS.values())
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE

# --- Email ------------------------------------------------------------------
# Console in development, SMTP in production; a file outbox by EMAIL_BACKEND.
_EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
_EMAIL_OPTIONS: dict = {}
if _EMAIL_BACKEND.endswith("smtp.EmailBackend"):
    _EMAIL_OPTIONS = {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 25),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
        "use_ssl": env_bool("EMAIL_USE_SSL", False),
        "timeout": env_int("EMAIL_TIMEOUT", 20),
    }
elif _EMAIL_BACKEND.endswith("filebased.EmailBackend"):
    _EMAIL_OPTIONS = {"file_path": os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))}
MAILERS = {"default": {"BACKEND": _EMAIL_BACKEND, "OPTIONS": _EMAIL_OPTIONS}}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "SecureChat <securechat@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalization ---------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- SecureChat -------------------------------------------------------------
# Key type of every user's identity: fixed before the first user signs up
# (a system check refuses a change once keys exist).
SECURECHAT_KEY_TYPE = env_choice("SECURECHAT_KEY_TYPE", "hybrid", {"hybrid", "x25519"})
# log2 of the scrypt work factor wrapping each identity under its password.
SECURECHAT_SCRYPT_WORK_FACTOR = env_int("SECURECHAT_SCRYPT_WORK_FACTOR", 16)
# Version 2: the scrypt work factor clients use on the password (log2 N). Clients accept
# 16..20 (test builds lower the floor); raising it upgrades each account at its next login.
SECURECHAT_CLIENT_WORK_FACTOR = env_int("SECURECHAT_CLIENT_WORK_FACTOR", 16)
SECURECHAT_CLIENT_WORK_FACTOR_MAX = 20
# Version 2: hours a reset without the recovery code waits before its new keys and
# password take effect (cancellable meanwhile; DESIGN.md §4, docs/operations.md).
SECURECHAT_RESET_HOLD = env_int("SECURECHAT_RESET_HOLD", 72)
if PRODUCTION and not 16 <= SECURECHAT_CLIENT_WORK_FACTOR <= SECURECHAT_CLIENT_WORK_FACTOR_MAX:
    raise ImproperlyConfigured("SECURECHAT_CLIENT_WORK_FACTOR must be 16 to 20 in production "
                               "(clients refuse anything lower)")
SECURECHAT_REQUIRE_2FA = env_bool("SECURECHAT_REQUIRE_2FA", False)
# Version 2 browser shell (/v2/): how often an open tab asks GET /api/v1/me whether its
# session still lives; a revoked session wipes the tab's identity within this interval.
SECURECHAT_V2_RECHECK_SECONDS = env_int("SECURECHAT_V2_RECHECK_SECONDS", 45)
# Passwords longer than this are refused before any key derivation runs.
SECURECHAT_PASSWORD_MAX_LENGTH = 1024


def env_rate(name: str, default: tuple[int, int]) -> tuple[int, int]:
    """``ATTEMPTS/SECONDS`` (e.g. ``30/300``) from the environment; 0 attempts: no limit."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    attempts, _, seconds = value.partition("/")
    try:
        limit = (int(attempts), int(seconds))
    except ValueError:
        raise ImproperlyConfigured(f"{name} must look like 30/300 (attempts/seconds), "
                                   f"not {value!r}") from None
    if limit[0] < 0 or limit[1] <= 0:
        raise ImproperlyConfigured(f"{name}: attempts >= 0 and seconds > 0, not {value!r}")
    return limit


# Attempts per window (seconds) per client address and per account; each is the
# environment variable SECURECHAT_RATE_<SCOPE> (docs/operations.md, "Rate limits").
# An office behind one NAT address shares the per-address limits: raise them there.
SECURECHAT_RATE_LIMITS = {
    "login_address": env_rate("SECURECHAT_RATE_LOGIN_ADDRESS", (30, 300)),
    "login_account": env_rate("SECURECHAT_RATE_LOGIN_ACCOUNT", (10, 300)),
    "signup_address": env_rate("SECURECHAT_RATE_SIGNUP_ADDRESS",
                               (env_int("SECURECHAT_SIGNUP_PER_ADDRESS", 10), 3600)),
    "otp_account": env_rate("SECURECHAT_RATE_OTP_ACCOUNT", (20, 300)),
    "reset_address": env_rate("SECURECHAT_RATE_RESET_ADDRESS", (10, 3600)),
    "verify_email_account": env_rate("SECURECHAT_RATE_VERIFY_EMAIL_ACCOUNT", (5, 3600)),
    "stepup_account": env_rate("SECURECHAT_RATE_STEPUP_ACCOUNT", (10, 300)),
    "prelogin_address": env_rate("SECURECHAT_RATE_PRELOGIN_ADDRESS", (60, 300)),
    "directory_account": env_rate("SECURECHAT_RATE_DIRECTORY_ACCOUNT", (120, 300)),
    # Version 2 epochs submitted per member (DESIGN.md §3: epoch creation is rate-limited).
    "epoch_account": env_rate("SECURECHAT_RATE_EPOCH_ACCOUNT", (60, 300)),
    # Per signed-in user (issue 17): what could map the directory or annoy others.
    "block_user": env_rate("SECURECHAT_RATE_BLOCK_USER",
                           (env_int("SECURECHAT_BLOCKS_PER_HOUR", 60), 3600)),
    "invite_user": env_rate("SECURECHAT_RATE_INVITE_USER",
                            (env_int("SECURECHAT_INVITATIONS_PER_DAY", 20), 86400)),
}
# Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or
# networks, comma-separated); none by default. nginx on the same machine: 127.0.0.1.
SECURECHAT_TRUSTED_PROXIES = env_list("SECURECHAT_TRUSTED_PROXIES", [])
OTP_TOTP_ISSUER = "SecureChat"
OTP_TOTP_THROTTLE_FACTOR = 1
# Wrong codes in a row that cost no wait (a typo), before django-otp's doubling delay.
SECURECHAT_OTP_FREE_FAILURES = env_int("SECURECHAT_OTP_FREE_FAILURES", 3)
# A registration whose address is still unverified this many days after signup is
# released (manage.py purge_unverified, or at once by a signup with the address).
SECURECHAT_UNVERIFIED_RELEASE_DAYS = env_int("SECURECHAT_UNVERIFIED_RELEASE_DAYS", 7)
SECURECHAT_REGISTRATION = env_choice(
    "SECURECHAT_REGISTRATION", "open", {"open", "invite", "closed"}
)
# Which ASGI server runs this process: the daphne launcher sets "daphne" so
# that uploads, which daphne would spool to disk, are refused (DESIGN.md §6).
SECURECHAT_ASGI_SERVER = env_choice(
    "SECURECHAT_ASGI_SERVER",
    # manage.py runserver is daphne's (it is first in INSTALLED_APPS).
    "daphne" if sys.argv[1:2] == ["runserver"] else "uvicorn",
    {"uvicorn", "daphne"},
)

# --- Messaging (docs/api.md, websocket protocol) ---------------------------------
# Heartbeat period (a client compares its last seqs and re-syncs), the period of
# the open sockets' session re-check, frame and message limits, per-socket rate.
SECURECHAT_WS_HEARTBEAT_SECONDS = float(os.environ.get("SECURECHAT_WS_HEARTBEAT_SECONDS", "25"))
SECURECHAT_WS_RECHECK_SECONDS = float(os.environ.get("SECURECHAT_WS_RECHECK_SECONDS", "30"))
# The frame limit is also the server's websocket maximum size (uvicorn --ws-max-size in
# the Makefile, deploy/ and docs/operations.md; daphne's runserver reads the two DAPHNE_
# settings): a larger frame is refused by the server before it is buffered (issue 17, M1).
SECURECHAT_WS_MAX_FRAME_BYTES = 64 * 1024
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = SECURECHAT_WS_MAX_FRAME_BYTES
DAPHNE_WEBSOCKET_MAX_FRAME_SIZE = SECURECHAT_WS_MAX_FRAME_BYTES
# Open sockets per login session and per user, counted in each server process; one
# more is accepted and closed with 4429 (docs/api.md).
SECURECHAT_WS_MAX_SOCKETS_PER_SESSION = env_int("SECURECHAT_WS_MAX_SOCKETS_PER_SESSION", 10)
SECURECHAT_WS_MAX_SOCKETS_PER_USER = env_int("SECURECHAT_WS_MAX_SOCKETS_PER_USER", 30)
SECURECHAT_MESSAGE_MAX_BYTES = 16 * 1024
SECURECHAT_WS_RATE_PER_SECOND = float(os.environ.get("SECURECHAT_WS_RATE_PER_SECOND", "20"))
SECURECHAT_WS_RATE_BURST = env_int("SECURECHAT_WS_RATE_BURST", 60)
# Benchmarks only (bench/messaging.py): mounts a bare echo consumer at /ws/bench-echo/.
SECURECHAT_BENCH_ECHO = env_bool("SECURECHAT_BENCH_ECHO", False)

# Files (filestore, DESIGN.md §6): the largest file, each user's storage quota
# (stored files plus uploads in progress) and how long an unfinished upload
# is kept before it is refused and purged (``manage.py purge_uploads``).
SECURECHAT_MAX_FILE_SIZE = env_int("SECURECHAT_MAX_FILE_SIZE", 10 * 1024**3)
# Files over this many plaintext bytes are never previewed in the browser (decrypted into
# the page's memory to show them); the page reads it from the shell's config JSON.
SECURECHAT_PREVIEW_MAX = env_int("SECURECHAT_PREVIEW_MAX", 64 * 1024**2)
SECURECHAT_USER_QUOTA = env_int("SECURECHAT_USER_QUOTA", 50 * 1024**3)
SECURECHAT_UPLOAD_EXPIRY_SECONDS = env_int("SECURECHAT_UPLOAD_EXPIRY_SECONDS", 24 * 3600)

# --- Health and metrics ------------------------------------------------------------
# Each readiness check answers "timeout" after this long (a hung database included).
SECURECHAT_HEALTH_TIMEOUT_SECONDS = float(os.environ.get("SECURECHAT_HEALTH_TIMEOUT_SECONDS", "3"))
# Bearer token of GET /api/v1/metrics; unset, the endpoint is disabled (404).
SECURECHAT_METRICS_TOKEN = os.environ.get("SECURECHAT_METRICS_TOKEN", "")

# --- Logging ----------------------------------------------------------------
# JSON lines in production (one object per line, for a log collector), text while
# developing; every line carries the id of the request that caused it.
SECURECHAT_LOG_FORMAT = env_choice("SECURECHAT_LOG_FORMAT", "json" if PRODUCTION else "plain",
                                   {"plain", "json"})
LOGGING_CONFIG = "securechat.logfilters.configure_logging"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "securechat.logfilters.json_lines_formatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "filters": {
        "request_id": {"()": "securechat.requestid.RequestIdFilter"},
        # Emailed links carry tokens in their paths: every line passes the filter.
        "redact_tokens": {"()": "securechat.logfilters.RedactTokensFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": SECURECHAT_LOG_FORMAT,
            "filters": ["request_id", "redact_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
