"""Settings shared by every environment; everything that differs comes from the environment."""

import importlib.util
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

# Marks a key that a developer machine may use but production must replace.
INSECURE_DEFAULT_PREFIX = "insecure-default-"


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc


SECRET_KEY = os.environ.get("SECRET_KEY", INSECURE_DEFAULT_PREFIX + "django-secret-key")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "whitenoise.runserver_nostatic",
    # django.contrib.admin with the back office's site (allauth sign-in, MFA for staff).
    "config.admin_apps.BackOfficeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "config",
    "accounts",
    "projects",
    "privacy_requests",
]


def _checkout_app(name: str) -> bool:
    """Whether `name` is a package of this checkout: the dev-only apps are not installed."""
    spec = importlib.util.find_spec(name)
    return bool(spec and spec.origin) and Path(spec.origin).resolve().is_relative_to(BASE_DIR)


# bench_ingest and bench_privacy: from a checkout only (the installed package leaves them out).
if _checkout_app("benchmarks"):
    INSTALLED_APPS.append("benchmarks")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.csp.SiteCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # /healthz and /readyz: after the headers every answer carries, before the Host check.
    "config.health.HealthProbeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "config.admin_access.BackOfficeAccessMiddleware",
    "config.rq_dashboard.RqDashboardArgumentsMiddleware",
    "privacy_requests.api.errors.ApiErrorShapeMiddleware",
]

# Content-Security-Policy (django-csp; issue 15, finding 8): scripts, styles, fonts and every
# request from this site only, no inline script or style, no framing; images may also be data:
# URIs (the two-factor QR code, the API docs' icons). Pages answer it in every environment, so
# the tests and the browser tests see what production sends. NONCE adds a per-response nonce
# to style-src only on a page that asks for it: ReDoc (/api/redoc/), whose styles are made at
# run time and carry that nonce; every other page's policy has none.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Probes come over plain HTTP from the load balancer: never redirected to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

# Database sessions whose key must look like one Django made (config/sessions.py).
SESSION_ENGINE = "config.sessions"

# Uploaded files: no page takes one but the CSV upload, which installs its own handler; every
# other file part is dropped unread (config/uploads.py). Form fields stay under Django's 2.5 MB.
FILE_UPLOAD_HANDLERS = ["config.uploads.DiscardFileUploadHandler"]

# DATABASE_URL picks the database; without it, a SQLite file in the project.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# django-allauth: the email address is the login.
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = os.environ.get("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_UNIQUE_EMAIL = True
# Two-factor authentication (allauth.mfa): anyone may turn it on; the back office requires it of
# staff while PRIVACY_ADMIN_REQUIRE_MFA is on (on unless a settings module turns it off).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = os.environ.get("MFA_TOTP_ISSUER", "Privacy requests")
PRIVACY_ADMIN_REQUIRE_MFA = env_bool("PRIVACY_ADMIN_REQUIRE_MFA", True)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "private"))

# Storage selection: exports and receipts go to "private" storage, never under a public URL.
# PRIVACY_STORAGE=local (default) keeps them on disk; PRIVACY_STORAGE=s3 uses django-storages'
# S3 backend with the usual AWS_* variables (any S3-compatible endpoint).
PRIVACY_STORAGE = os.environ.get("PRIVACY_STORAGE", "local")
if PRIVACY_STORAGE == "local":
    _private_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
    }
elif PRIVACY_STORAGE == "s3":
    _private_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("AWS_STORAGE_BUCKET_NAME", ""),
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": 60,
            # Presigned download URLs: SigV4 works in every region (SigV2 does not).
            "signature_version": os.environ.get("AWS_S3_SIGNATURE_VERSION") or "s3v4",
            "file_overwrite": False,
        },
    }
else:
    raise ImproperlyConfigured(f"PRIVACY_STORAGE must be 'local' or 's3', not {PRIVACY_STORAGE!r}")

STORAGES = {
    "default": _private_storage,
    "private": _private_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Redis: REDIS_URL names a server. Without it the jobs run synchronously, in process
# (see config/jobs.py); the run command starts an embedded server and sets REDIS_URL itself.
REDIS_URL = os.environ.get("REDIS_URL", "")
JOBS_SYNC = not REDIS_URL
RQ_QUEUES = {"default": {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 900}}
RQ_SHOW_ADMIN_LINK = True
# Failed jobs may carry distinct_ids in their arguments: keep them 7 days, no longer.
RQ_FAILED_JOB_TTL = 7 * 24 * 3600

if REDIS_URL:
    CACHES = {
        "default": {
            # Redis, or this process's memory while Redis does not answer (issue 16).
            "BACKEND": "config.cache.FailSoftRedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "privacy@localhost")
# Where the site is reached: emails sent by workers and the sweep link to pages under it. Unset,
# each request's emails link to the site it was submitted through (config/site_url.py).
SITE_URL = os.environ.get("SITE_URL", "").rstrip("/")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "privacy_requests.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Privacy requests API",
    "DESCRIPTION": (
        "GDPR API v3, wire-compatible with Mixpanel's: create, check and cancel data retrievals "
        "and deletions. Authenticate with `Authorization: Bearer <GDPR token>` (reset it in "
        "Personal settings), or with an admin service account's `Authorization: Basic "
        "<username:secret>`, and name the project with `?token=<project token>`. Every error is "
        '`{"status": "error", "error": "..."}`.'
        # Markdown, shown as HTML by Swagger UI and ReDoc: outside code spans, "<GDPR token>"
        # would be read as a tag and vanish (issue 17, item 8).
    ),
    "VERSION": "3.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# Per principal (a person, whatever their token, or a service account), as Mixpanel limits its
# GDPR API; and failed authentications (401) per client address. Counted by a GCRA in the cache
# (Redis) shared by every web process, per process while Redis does not answer
# (config/rate_limits.py).
PRIVACY_API_RATES = {
    "create": os.environ.get("PRIVACY_API_RATE_CREATE", "1/s"),
    "read": os.environ.get("PRIVACY_API_RATE_READ", "10/s"),
    "auth_failure": os.environ.get("PRIVACY_API_RATE_AUTH_FAILURE", "30/min"),
}
# How many proxies (load balancers) stand in front of the web processes, each appending the
# address it saw to X-Forwarded-For. 0: the client address is REMOTE_ADDR and the header is
# ignored (anyone can write it). Behind one load balancer, 1.
PRIVACY_TRUSTED_PROXIES = env_int("PRIVACY_TRUSTED_PROXIES", 0)

# Keys of the audit chain and of the HMACs that replace raw distinct_ids.
PRIVACY_AUDIT_KEY = os.environ.get("PRIVACY_AUDIT_KEY", INSECURE_DEFAULT_PREFIX + "audit-key")
PRIVACY_PII_KEY = os.environ.get("PRIVACY_PII_KEY", INSECURE_DEFAULT_PREFIX + "pii-key")
# Key of the lookup value that finds a project from its API secret alone (HMAC of the secret):
# changing it leaves every project without a lookup value until its secret is rotated.
PRIVACY_LOOKUP_KEY = os.environ.get("PRIVACY_LOOKUP_KEY", INSECURE_DEFAULT_PREFIX + "lookup-key")
PRIVACY_GDPR_TOKEN_LIFETIME_DAYS = env_int("PRIVACY_GDPR_TOKEN_LIFETIME_DAYS", 365)
# Invitations to join an organization (accounts.invitations): how long a link works, and how
# many an organization may send in 24 hours (they are emails to any address: a cap on spam).
PRIVACY_INVITATION_LIFETIME_DAYS = env_int("PRIVACY_INVITATION_LIFETIME_DAYS", 7)
PRIVACY_INVITATIONS_PER_DAY = env_int("PRIVACY_INVITATIONS_PER_DAY", 50)

# The loggers that name a request's path log it without bearer secrets (a download link's
# signature, allauth's keys) and without query strings (config/log_redaction.py). A filter on
# a logger also covers the handlers it propagates to (mail_admins included).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "config.log_redaction.RedactSecretsFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        # Django's own, for runserver's request lines.
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "django.server": {
            "level": "INFO",
            "class": "logging.StreamHandler",
            "formatter": "django.server",
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["redact_secrets"]},
        "django.security.csrf": {"filters": ["redact_secrets"]},
        # Configuring it replaces Django's default, so its handler is declared again above.
        "django.server": {
            "handlers": ["django.server"],
            "filters": ["redact_secrets"],
            "level": "INFO",
            "propagate": False,
        },
    },
}

# Privacy request engine (DESIGN section 4).
PRIVACY_DELETION_DELAY = env_int("PRIVACY_DELETION_DELAY", 0)  # seconds of grace before deleting
PRIVACY_JOB_TIMEOUT = env_int("PRIVACY_JOB_TIMEOUT", 3600)  # seconds RQ lets one job run
PRIVACY_LEASE_SECONDS = env_int("PRIVACY_LEASE_SECONDS", 60)
PRIVACY_RETRY_BACKOFF = [2, 4, 8]  # seconds before each automatic retry of a transient error
PRIVACY_SWEEP_INTERVAL = env_int("PRIVACY_SWEEP_INTERVAL", 30)

# Signed callbacks (issue 19; docs/design.md "Signed callbacks"). Production delivers over https
# to public addresses only; the local run and the tests allow http and this machine's addresses.
CALLBACK_ALLOW_HTTP = env_bool("CALLBACK_ALLOW_HTTP", False)
CALLBACK_ALLOW_PRIVATE_ADDRESSES = env_bool("CALLBACK_ALLOW_PRIVATE_ADDRESSES", False)
CALLBACK_TIMEOUT_SECONDS = 5
# A failed delivery is tried again after base, 2 x base, 4 x base ... seconds (at most the
# ceiling apart) until 24 hours after it was first due.
CALLBACK_RETRY_BASE_SECONDS = env_int("CALLBACK_RETRY_BASE_SECONDS", 30)
CALLBACK_RETRY_MAX_DELAY_SECONDS = env_int("CALLBACK_RETRY_MAX_DELAY_SECONDS", 4 * 3600)
CALLBACK_RETRY_WINDOW_SECONDS = 24 * 3600
# Seconds between a worker's heartbeats (privacy_requests.worker): /readyz wants one within a
# minute, and the pages warn when none came for two.
PRIVACY_WORKER_HEARTBEAT_INTERVAL = env_int("PRIVACY_WORKER_HEARTBEAT_INTERVAL", 15)
# Seconds between a worker's maintenance rounds, which book the sweep again and restart RQ's
# scheduler after a Redis server restarted empty (RQ's own default is 10 minutes).
PRIVACY_WORKER_MAINTENANCE_INTERVAL = env_int("PRIVACY_WORKER_MAINTENANCE_INTERVAL", 60)
PRIVACY_PSEUDONYMIZE_AFTER_DAYS = 30
# Subjects per processing step: each step commits and renews the lease.
PRIVACY_DELETION_BATCH = env_int("PRIVACY_DELETION_BATCH", 5000)  # events per delete transaction
# 1,000: an export of 2,000 users took 0.66 s in chunks of 500 and 0.58 s in chunks of 1,000
# (fewer statements; its COPY keeps to the index and sorts in memory whatever the chunk).
PRIVACY_SUBJECT_CHUNK = env_int("PRIVACY_SUBJECT_CHUNK", 1000)
# Seconds between two saves of an export's progress (each also renews the lease).
PRIVACY_PROGRESS_INTERVAL = float(os.environ.get("PRIVACY_PROGRESS_INTERVAL", "0.5") or 0.5)
# Event retention (issue 20): seconds of each sweep it may spend, and distinct_ids one batch
# walks (each batch also deletes at most PRIVACY_DELETION_BATCH events).
PRIVACY_RETENTION_SECONDS = env_int("PRIVACY_RETENTION_SECONDS", 20)
PRIVACY_RETENTION_WALK_IDS = env_int("PRIVACY_RETENTION_WALK_IDS", 2000)
# Crash tests only: a pause after each processing step (and each event retention batch), so a
# test can kill a worker mid-request.
PRIVACY_STEP_DELAY_SECONDS = float(os.environ.get("PRIVACY_STEP_DELAY_SECONDS", "0") or 0)
# COMMIT_MODE auto: we choose when to enqueue (transaction.on_commit); a deferred enqueue
# would raise Redis errors at commit time, outside our handling.
RQ = {"WORKER_CLASS": "privacy_requests.worker.PrivacyWorker", "COMMIT_MODE": "auto"}
PRIVACY_EXPORT_TTL = env_int("PRIVACY_EXPORT_TTL", 7 * 24 * 3600)  # seconds a download link lives
