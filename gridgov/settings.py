"""One settings module, configured from environment variables.

DATABASE_URL   sqlite:///path or postgres://user@host:port/db (default: var/gridgov.sqlite3)
GRIDGOV_SECRET_KEY, GRIDGOV_SECRET_KEY_FILE, GRIDGOV_DEBUG, GRIDGOV_ALLOWED_HOSTS, GRIDGOV_VAR_DIR
GRIDGOV_TLS (on: the site is served over HTTPS, usually behind a reverse proxy), GRIDGOV_HSTS_SECONDS,
GRIDGOV_PROXY_SSL_HEADER, GRIDGOV_TRUSTED_PROXIES, GRIDGOV_RATE_LIMITS, GRIDGOV_RATE_LIMIT_<SCOPE>_PER_IP|_PER_USER
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("GRIDGOV_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# --- security: secrets and debug (gridgov.security checks these with `gridgov check --deploy`) ---
# DEBUG shows stack traces and settings to whoever triggers an error: off unless asked for.
DEBUG = _env_bool("GRIDGOV_DEBUG", False)


def _secret_key() -> tuple[str, str]:
    """The key and where it came from: the environment, a named key file, or a development
    key file generated once under var/ (never a literal in the repository)."""
    if value := os.environ.get("GRIDGOV_SECRET_KEY", "").strip():
        return value, "env"
    if named := os.environ.get("GRIDGOV_SECRET_KEY_FILE", "").strip():
        return Path(named).read_text().strip(), "file"
    key_file = VAR_DIR / "secret_key"
    try:
        # O_EXCL: of several processes starting at once, exactly one writes the key.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        import secrets

        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(50))
            out.flush()
            os.fsync(out.fileno())
    return key_file.read_text().strip(), "generated"


SECRET_KEY, SECRET_KEY_SOURCE = _secret_key()

ALLOWED_HOSTS = [h for h in os.environ.get("GRIDGOV_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",  # serves Swagger UI from local static files, no CDN
    "django_tasks_db",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "gridgov.places",
    "gridgov.accounts",
    "gridgov.privacy",
    "gridgov.cases",
    "gridgov.insight",
    "gridgov.web",
    "gridgov.security",
    "gridgov.demo",
    "gridgov.ops",
]

MIDDLEWARE = [
    # --- security (gridgov.security): redirect to HTTPS, HSTS, nosniff, referrer policy, CSP, Permissions-Policy,
    # no-store on personal data, a request size cap; these wrap every response, static files included.
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "gridgov.security.middleware.SecurityHeadersMiddleware",
    # ---
    "gridgov.privacy.middleware.AuditContextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # security: rate limits need the signed-in user, and answer before any view runs.
    "gridgov.security.middleware.RateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Idle timeout, forced password change and mandatory 2FA: after auth + OTP, before any view
    # (and inside the header middleware above, so its redirects carry the same headers).
    "gridgov.accounts.middleware.AccountSecurityMiddleware",
    # Last, as django-axes asks: it turns a lockout flagged during authentication into the response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "gridgov.urls"
WSGI_APPLICATION = "gridgov.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'gridgov.sqlite3'}"
# Persistent connections, checked before reuse: after a database restart the next request
# reconnects instead of failing (a cheap SELECT 1 per request).
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Kept open too: opening a SQLite connection (functions, pragmas, the durability
    # check) costs more CPU than a whole report.
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers proceed while one writer commits; IMMEDIATE avoids
        # lock-upgrade deadlocks between concurrent writers. synchronous=FULL: a commit
        # survives power loss, not only a crash; secure_delete: deleted rows are zeroed
        # (SECURITY.md R22, R30 — gridgov.security.durability refuses any other setting).
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
            "PRAGMA secure_delete=ON; PRAGMA busy_timeout=10000;"
        ),
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get("GRIDGOV_TEST_SQLITE", "")  or None
    if not DATABASES["default"]["TEST"]["NAME"]:
        del DATABASES["default"]["TEST"]["NAME"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- accounts and login security (issue 3 §1; SECURITY.md R1–R6) -------------------------
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out account or IP before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "gridgov.accounts.backends.RoleModelBackend",
]
# Argon2id first; the others only verify (and upgrade on login) hashes made before the switch.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "gridgov.accounts.validators.CharacterClassesValidator", "OPTIONS": {"min_classes": 3}},
    {"NAME": "gridgov.accounts.validators.PasswordHistoryValidator", "OPTIONS": {"history": 5}},
]

# django-axes: 5 failures lock the account AND (separately) the IP address for 30 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("GRIDGOV_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("GRIDGOV_LOCKOUT_MINUTES", "30")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# A try during the lockout must not push its end further (the lock lasts exactly 30 minutes).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The locked-out answer is the very page a wrong password gets: nothing tells an attacker which.
AXES_LOCKOUT_CALLABLE = "gridgov.accounts.views.lockout_response"
AXES_VERBOSE = False
# The client's address as the rate limiter sees it (GRIDGOV_TRUSTED_PROXIES), one rule for both.
AXES_CLIENT_IP_CALLABLE = "gridgov.accounts.services.axes_client_ip"

OTP_TOTP_ISSUER = os.environ.get("GRIDGOV_OTP_ISSUER", "gridgov")
# Nobody reads a user's TOTP secret in the admin: an administrator may only delete a device
# (the user then enrols a new one at next sign-in).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Sessions end with the browser or after 12 h at most; the idle timeout (GRIDGOV
# ["SESSION_IDLE_MINUTES"]) ends most of them sooner. HttpOnly/SameSite/Secure: see the
# security block below; the __Host- cookie names are set there too when TLS is on.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = 12 * 3600

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "gridgov" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [("vendor", BASE_DIR / "node_modules")] if (BASE_DIR / "node_modules").exists() else []
# --- security: uploads. Photos live under var/media, outside the web root and served by no URL:
# only the authorised view (gridgov.cases.photos) reads them. Every file is written to a temporary
# name, fsynced, renamed and its directory fsynced before the database commits the row.
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "gridgov.security.storage.DurableFileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("GRIDGOV_LOG_LEVEL", "WARNING")},
}

# --- gridgov domain settings (defaults; most configuration is data in the admin) ---
GRIDGOV = {
    # Width of the sequence a grid code adds to its community's 12-digit code (DB11 practice: 3).
    "GRID_SEQUENCE_WIDTH": int(os.environ.get("GRIDGOV_GRID_SEQUENCE_WIDTH", "3")),
    "MICROGRID_SEQUENCE_WIDTH": int(os.environ.get("GRIDGOV_MICROGRID_SEQUENCE_WIDTH", "3")),
    # Working hours on a working day, Asia/Shanghai.
    "WORKING_HOURS": [("08:30", "12:00"), ("14:00", "17:30")],
    # Share of the time limit after which a case turns to "warning".
    "SLA_WARNING_SHARE": float(os.environ.get("GRIDGOV_SLA_WARNING_SHARE", "0.8")),
    # Days after closure within which the reporter may reopen a case.
    "REOPEN_DAYS": int(os.environ.get("GRIDGOV_REOPEN_DAYS", "7")),
    # Minimum width of the daily serial in case numbers; it grows past it, never caps.
    "CASE_SERIAL_WIDTH": 5,
    # Hot spots and early warning (docs/insight.md); the rules' thresholds are data (WarningRule).
    "INSIGHT": {
        "HOTSPOT_WINDOW_DAYS": int(os.environ.get("GRIDGOV_HOTSPOT_WINDOW_DAYS", "30")),
        "HOTSPOT_MIN_CASES": int(os.environ.get("GRIDGOV_HOTSPOT_MIN_CASES", "3")),
        "ROLLUP_REFRESH_DAYS": int(os.environ.get("GRIDGOV_ROLLUP_REFRESH_DAYS", "7")),
        "SCAN_INTERVAL_SECONDS": int(os.environ.get("GRIDGOV_INSIGHT_SCAN_INTERVAL", "900")),
    },
    # Insight at intake (docs/insight.md): the classifier's suggestion for "uncategorised" cases,
    # "always" or "off"; the duplicate keys filed in the same transaction.
    "INSIGHT_SUGGEST_AT_INTAKE": os.environ.get("GRIDGOV_INSIGHT_SUGGEST_AT_INTAKE", "uncategorised"),
    "DUPLICATE_INDEX_AT_INTAKE": _env_bool("GRIDGOV_DUPLICATE_INDEX_AT_INTAKE", True),
    # Candidate duplicates: open cases of the last N days, within the category's radius (capped
    # at the cell size), with text similarity (Jaccard of bigrams) at least this.
    "DUPLICATE_WINDOW_DAYS": int(os.environ.get("GRIDGOV_DUPLICATE_WINDOW_DAYS", "90")),
    "DUPLICATE_CELL_M": float(os.environ.get("GRIDGOV_DUPLICATE_CELL_M", "300")),
    "DUPLICATE_DEFAULT_RADIUS_M": float(os.environ.get("GRIDGOV_DUPLICATE_DEFAULT_RADIUS_M", "100")),
    "DUPLICATE_MIN_SIMILARITY": float(os.environ.get("GRIDGOV_DUPLICATE_MIN_SIMILARITY", "0.2")),
    # The audit log (gridgov/privacy, docs/privacy-audit.md).
    "AUDIT": {
        # Chain hash and checkpoint HMAC: "sha256" or "sm3" (商用密码).
        "HASH": os.environ.get("GRIDGOV_AUDIT_HASH", "sha256").strip().lower(),
        # Parallel hash chains: concurrent writers on different chains never wait for each other.
        "CHAINS": int(os.environ.get("GRIDGOV_AUDIT_CHAINS", "16")),
        # Online retention; the Cybersecurity Law (Art. 21) asks for at least 180 days.
        "RETENTION_DAYS": int(os.environ.get("GRIDGOV_AUDIT_RETENTION_DAYS", "180")),
        # Seconds between signed checkpoints scheduled by `gridgov worker`.
        "CHECKPOINT_INTERVAL": int(os.environ.get("GRIDGOV_AUDIT_CHECKPOINT_INTERVAL", "600")),
        # Checkpoint key file when GRIDGOV_AUDIT_KEY is unset (created only under DEBUG).
        "KEY_FILE": os.environ.get("GRIDGOV_AUDIT_KEY_FILE", str(VAR_DIR / "audit_key")),
        # Reverse proxies in front of the app whose X-Forwarded-For is trusted (0: use REMOTE_ADDR).
        "TRUSTED_PROXIES": int(os.environ.get("GRIDGOV_AUDIT_TRUSTED_PROXIES", "0")),
    },
    # --- accounts (SECURITY.md R1–R6) ---
    "PASSWORD_MAX_AGE_DAYS": int(os.environ.get("GRIDGOV_PASSWORD_MAX_AGE_DAYS", "90")),
    "SESSION_IDLE_MINUTES": int(os.environ.get("GRIDGOV_SESSION_IDLE_MINUTES", "30")),
    # Roles that must sign in with a TOTP second factor (django-otp).
    "MFA_ROLES": [r for r in os.environ.get(
        "GRIDGOV_MFA_ROLES", "system_admin,security_admin,auditor,dispatcher,leader").split(",") if r],
    "TOKEN_MAX_DAYS": int(os.environ.get("GRIDGOV_TOKEN_MAX_DAYS", "366")),
    # Staff who have not signed in for this many days are disabled by `gridgov accounts disable-inactive`.
    "STAFF_INACTIVE_DAYS": int(os.environ.get("GRIDGOV_STAFF_INACTIVE_DAYS", "90")),
    # Seconds a process trusts its copy of the role → action table before re-reading its version row.
    "ROLE_TABLE_TTL": float(os.environ.get("GRIDGOV_ROLE_TABLE_TTL", "2")),
}

# --- security: headers, TLS, cookies, rate limits (gridgov.security; `gridgov check --deploy` reviews them) ---
# No inline script or style anywhere: templates load static files only.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],  # data: for the icons inside vendored CSS (Swagger UI, Leaflet)
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Geolocation stays allowed for this origin: the report form asks the phone where it is.
PERMISSIONS_POLICY = "camera=(), microphone=(), payment=(), usb=(), geolocation=(self)"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "gridgov.security.views.csrf_failure"

# GRIDGOV_TLS=on: the site is reached over HTTPS only (R21). Plain HTTP is redirected (301),
# browsers are told to stay on HTTPS (HSTS) and cookies never travel in clear text. Behind a
# reverse proxy that terminates TLS, it must set the header named by GRIDGOV_PROXY_SSL_HEADER
# (default X-Forwarded-Proto) and strip it from client requests.
TLS = _env_bool("GRIDGOV_TLS", False)
if TLS:
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = int(os.environ.get("GRIDGOV_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("GRIDGOV_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _env_bool("GRIDGOV_HSTS_PRELOAD", False)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # __Host-: the browser accepts these cookies only from this host, over HTTPS, for path /.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    if proxy_header := os.environ.get("GRIDGOV_PROXY_SSL_HEADER", "X-Forwarded-Proto").strip():
        SECURE_PROXY_SSL_HEADER = ("HTTP_" + proxy_header.upper().replace("-", "_"), "https")

# One request may carry at most this many bytes (9 photos of 10 MB and the form): larger ones
# are refused with 413 before the body is read. A reverse proxy should cap it as well.
GRIDGOV["MAX_REQUEST_BYTES"] = int(os.environ.get("GRIDGOV_MAX_REQUEST_BYTES", str(92 * 1024 * 1024)))
# Clients' addresses: REMOTE_ADDR, or the n-th address from the right of X-Forwarded-For when
# n trusted reverse proxies stand in front (0: none, X-Forwarded-For is ignored).
GRIDGOV["TRUSTED_PROXIES"] = int(os.environ.get("GRIDGOV_TRUSTED_PROXIES", "0"))


def _rate_limits() -> dict:
    """Fixed-window limits per scope: "count/period" (s, m, h, d or seconds), per client address
    and per signed-in user or token. A scope matches requests by method and path pattern.
    GRIDGOV_RATE_LIMIT_<SCOPE>_PER_IP / _PER_USER override one ("off" removes it);
    GRIDGOV_RATE_LIMITS=off turns all of them off (benchmarks of the bare application only)."""
    limits = {
        "case_report": {"methods": ["POST"], "paths": [r"^/api/cases/?$"], "per_ip": "300/m", "per_user": "60/m"},
        "login": {
            "methods": ["POST"],
            "paths": [r"^/admin/login/$", r"^/accounts/login/$", r"^/api/(auth/)?login/?$", r"^/api/(auth/)?token/?$"],
            "per_ip": "30/m", "per_user": None,
        },
        "open311": {"methods": ["POST"], "paths": [r"^/open311/.*requests"], "per_ip": "60/m", "per_user": "30/m"},
        "reveal": {"methods": ["POST"], "paths": [r"/reveal/?$"], "per_ip": "120/m", "per_user": "30/m"},
    }
    for scope, rule in limits.items():
        for kind in ("per_ip", "per_user"):
            value = os.environ.get(f"GRIDGOV_RATE_LIMIT_{scope.upper()}_{kind.upper()}")
            if value is not None:
                rule[kind] = None if value.strip().lower() in {"", "off", "none", "0"} else value.strip()
    return limits


GRIDGOV["RATE_LIMITS_ENABLED"] = _env_bool("GRIDGOV_RATE_LIMITS", True)
GRIDGOV["RATE_LIMITS"] = _rate_limits()
if GRIDGOV["AUDIT"]["RETENTION_DAYS"] < 180:
    raise RuntimeError("GRIDGOV_AUDIT_RETENTION_DAYS must be at least 180 (Cybersecurity Law Art. 21)")
if not 1 <= GRIDGOV["AUDIT"]["CHAINS"] <= 1024:
    raise RuntimeError("GRIDGOV_AUDIT_CHAINS must be between 1 and 1024")

# --- personal-data protection (gridgov/privacy, docs/privacy.md) ---
# Master keys come from GRIDGOV_MASTER_KEYS + GRIDGOV_BLIND_INDEX_KEY or from the key file
# GRIDGOV_KEY_FILE (default var/keys.json), never from this repository or the database.
GRIDGOV_PRIVACY = {
    "CIPHER": os.environ.get("GRIDGOV_PI_CIPHER", "aes-256-gcm"),  # or "sm4-gcm" (商用密码)
    "BLIND_INDEX_HASH": os.environ.get("GRIDGOV_BLIND_INDEX_HASH", "sm3"),
    "KEY_FILE": os.environ.get("GRIDGOV_KEY_FILE") or None,
    # Unwrapped data keys kept per process (an LRU) and for how long.
    "CACHE_SIZE": int(os.environ.get("GRIDGOV_PI_KEY_CACHE", "2048")),
    "CACHE_SECONDS": int(os.environ.get("GRIDGOV_PI_KEY_CACHE_SECONDS", "300")),
}
