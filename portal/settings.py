"""Settings for the portal, all from the environment (see README "Configuration").

Two profiles:
- development (default): embedded SQLite under var/, tasks run in-process, emails
  written to the local outbox, a secret key generated once into var/.
- production (PORTAL_ENV=production): refuses to start without a real secret key,
  allowed hosts and a database, and turns on every HTTPS protection so that
  ``manage.py check --deploy`` is clean.
"""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from portal.env import Env

env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent
PORTAL_ENV = env.choice("PORTAL_ENV", ("development", "production"), "development")
PRODUCTION = PORTAL_ENV == "production"

VAR_DIR = Path(env.str("PORTAL_VAR_DIR", str(BASE_DIR / "var")))
# Invoices, exports and evidence: never under a public media URL; served only by views that
# check who asks (docs/architecture.md). On one machine, a folder; on several, PORTAL_STORAGE=s3.
PRIVATE_STORAGE_DIR = Path(env.str("PORTAL_PRIVATE_DIR", str(VAR_DIR / "private")))


def _secret_key() -> str:
    key = env.str("DJANGO_SECRET_KEY")
    if key:
        if PRODUCTION and (len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure")):
            raise ImproperlyConfigured(
                "DJANGO_SECRET_KEY is too weak for production: use at least 50 random characters."
            )
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) must be set when PORTAL_ENV=production."
        )
    # Development: one key generated on first start and kept, so sessions survive restarts.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(64))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()


def _mfa_keys() -> list[str]:
    """Fernet keys for authenticator secrets, separate from SECRET_KEY: newest first."""
    keys = env.list("PORTAL_MFA_KEYS")
    if not keys:
        if PRODUCTION:
            raise ImproperlyConfigured(
                "PORTAL_MFA_KEYS (or PORTAL_MFA_KEYS_FILE) must be set when PORTAL_ENV=production: "
                "python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'."
            )
        key_file = VAR_DIR / "mfa_key"  # development: one key generated on first start and kept
        if not key_file.exists():
            from cryptography.fernet import Fernet

            VAR_DIR.mkdir(parents=True, exist_ok=True)
            key_file.write_text(Fernet.generate_key().decode())
            key_file.chmod(0o600)
        keys = [key_file.read_text().strip()]
    for key in keys:
        try:
            if len(base64.urlsafe_b64decode(key.encode())) != 32:
                raise ValueError
        except ValueError:
            raise ImproperlyConfigured(
                "PORTAL_MFA_KEYS must be Fernet keys (32 url-safe base64-encoded bytes), comma-separated."
            ) from None
    return keys


PORTAL_MFA_KEYS = _mfa_keys()
DEBUG = env.bool("PORTAL_DEBUG", default=not PRODUCTION)
# bench/pages.py's floor: /bench/bare/ answers "ok" behind every middleware and the
# customer-page decorator, and nothing else. Off (404) unless a benchmark turns it on.
PORTAL_BENCH_BARE_VIEW = env.bool("PORTAL_BENCH_BARE_VIEW", default=False)
if PRODUCTION and PORTAL_BENCH_BARE_VIEW:
    raise ImproperlyConfigured("PORTAL_BENCH_BARE_VIEW is for benchmarks only, never with PORTAL_ENV=production.")
# With DEBUG on, a 404 still shows the portal's own page (portal.errors) unless a developer
# asks for Django's technical page, which lists the URL patterns.
PORTAL_DEBUG_TECHNICAL_404 = env.bool("PORTAL_DEBUG_TECHNICAL_404", default=False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("PORTAL_DEBUG=true is refused when PORTAL_ENV=production: it shows code and settings.")

if PRODUCTION:
    ALLOWED_HOSTS = env.list("PORTAL_ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("PORTAL_ALLOWED_HOSTS must list the portal's host names when PORTAL_ENV=production.")
    env.required("DATABASE_URL", "when PORTAL_ENV=production (the embedded SQLite is for trying the portal)")
else:
    ALLOWED_HOSTS = env.list("PORTAL_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("PORTAL_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_countries",
    "django_celery_beat",
    "allauth",
    "portal.apps.LoginAddressesConfig",  # allauth.account, named apart from our Accounts
    "allauth.mfa",
    "portal",
    "accounts",
    "privacy",
    "billing",
]

MIDDLEWARE = [
    # First: load balancers probe /healthz and /readyz by address, over plain HTTP.
    "portal.health.HealthCheckMiddleware",
    "portal.logging.RequestLogMiddleware",
    "portal.errors.PortalNotFoundPage",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.RequireMFAMiddleware",
    "privacy.middleware.PolicyAcknowledgementMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
                "privacy.context_processors.cookie_consent",
            ],
        },
    },
]

DATABASES = {"default": env.database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default: one file, WAL so the dev server and in-process tasks don't block.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "transaction_mode": "IMMEDIATE"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "portal:dashboard"

# django-allauth: email only, verified before first login, MFA available to all.
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""
ACCOUNT_RATE_LIMITS = {
    # Per account and per address separately: five wrong passwords lock that account's
    # logins for a while; one address is stopped only after trying many accounts, so a
    # colleague's typos (or an attacker guessing at unknown addresses) behind the same
    # office router do not lock a real person out.
    "login_failed": "20/5m/ip,5/5m/key",
    "login": "30/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "signup": "20/m/ip",
    # The privacy request forms anyone may post (privacy.views.requests): per address.
    "privacy_public_request": "10/h/ip",
    "privacy_agent_request": "10/h/ip",
}
ACCOUNT_PREVENT_ENUMERATION = True
# allauth's default answers a reset request for an unknown address with an email
# inviting the person to sign up; signup is closed (invitations only), so send nothing.
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
# Rate limits per IP count the client's address. Behind the production proxy every
# request comes from the proxy, so without this one person's failed logins would lock
# everyone out; allauth then takes the address the proxy appends to X-Forwarded-For.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("PORTAL_TRUSTED_PROXY_COUNT", 1 if PRODUCTION else 0, minimum=0)
MFA_ADAPTER = "accounts.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = not PRODUCTION
MFA_TOTP_ISSUER = env.str("PORTAL_MFA_ISSUER", "Hosting portal")

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("PORTAL_TIME_ZONE", "Europe/London")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("PORTAL_STATIC_ROOT", str(VAR_DIR / "static")))
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request without it

# allauth keeps login rate limits and used TOTP codes in the cache, so every web
# process must share it: otherwise a TOTP code could be replayed on another worker
# and limits multiply. A database table (made by portal's migration) needs nothing
# more; PORTAL_CACHE_URL=redis://... uses Redis instead.
_cache_url = env.str("PORTAL_CACHE_URL", "")
if _cache_url.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}}
elif _cache_url in ("", "db"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "portal_cache"}}
elif _cache_url == "locmem":
    if PRODUCTION:
        raise ImproperlyConfigured(
            "PORTAL_CACHE_URL=locmem is refused when PORTAL_ENV=production: each process would keep its own "
            "login rate limits and used TOTP codes. Use db (the default) or a redis:// URL."
        )
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"PORTAL_CACHE_URL={_cache_url!r} must be db, locmem or a redis:// URL.")
# Customer pages once rendered (core.pagecache), apart from the default so that pages never
# push a rate limit or a used TOTP code out: the same Redis under its own prefix, or a
# table of their own. PORTAL_PAGE_CACHE=false renders every page afresh.
_pages_cache = {
    "django.core.cache.backends.redis.RedisCache": {"KEY_PREFIX": "pages"},
    "django.core.cache.backends.db.DatabaseCache": {
        "BACKEND": "core.pagecache.PageTable",  # a write is one upsert
        "LOCATION": "portal_page_cache",
        "OPTIONS": {"MAX_ENTRIES": 20000},
    },
    "django.core.cache.backends.locmem.LocMemCache": {"LOCATION": "pages", "OPTIONS": {"MAX_ENTRIES": 5000}},
}
CACHES["pages"] = {**CACHES["default"], **_pages_cache[CACHES["default"]["BACKEND"]]}
PORTAL_PAGE_CACHE = env.bool("PORTAL_PAGE_CACHE", True)
PORTAL_PAGE_CACHE_SECONDS = env.int("PORTAL_PAGE_CACHE_SECONDS", 900)
# Private files (PDFs, attachments, exports) through Django's storage API only. With more
# than one web or worker machine they must be shared: PORTAL_STORAGE=s3 keeps them in an
# S3-compatible bucket (AWS, MinIO, Ceph, ...), private, read back by the portal's own
# access-checked views and streamed to the person; never a public or pre-signed URL.
PORTAL_STORAGE = env.str("PORTAL_STORAGE", "filesystem")
if PORTAL_STORAGE == "filesystem":
    _private_files = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # Readable by the portal's own user only: invoices, attachments and exports.
        "OPTIONS": {
            "location": PRIVATE_STORAGE_DIR,
            "base_url": None,
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
elif PORTAL_STORAGE == "s3":
    _private_files = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.required("PORTAL_S3_BUCKET", "when PORTAL_STORAGE=s3"),
            "endpoint_url": env.str("PORTAL_S3_ENDPOINT_URL", "") or None,  # empty: AWS itself
            "region_name": env.str("PORTAL_S3_REGION", "") or None,
            "access_key": env.required("PORTAL_S3_ACCESS_KEY_ID", "when PORTAL_STORAGE=s3"),
            "secret_key": env.required("PORTAL_S3_SECRET_ACCESS_KEY", "when PORTAL_STORAGE=s3"),
            "location": env.str("PORTAL_S3_PREFIX", ""),
            # "path" for stores addressed by IP or without wildcard DNS (MinIO); empty: boto's choice.
            "addressing_style": env.str("PORTAL_S3_ADDRESSING_STYLE", "") or None,
            # Private objects, never addressed by URL: the portal reads and streams them.
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
            "object_parameters": {"ServerSideEncryption": "AES256"}
            if env.bool("PORTAL_S3_ENCRYPT", default=True)
            else {},
        },
    }
else:
    raise ImproperlyConfigured(f"PORTAL_STORAGE={PORTAL_STORAGE!r} must be filesystem or s3.")
STORAGES = {
    "default": _private_files,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Email. Without EMAIL_HOST, mail goes to the local outbox (var/outbox/), which staff can read.
# Every EMAIL_* value is parsed even when unused, so a typo fails at start, not at first send.
EMAIL_HOST = env.str("EMAIL_HOST", "")
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", "")
# STARTTLS on the submission port (587) by default; EMAIL_USE_SSL=true for implicit TLS (465).
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=not EMAIL_USE_SSL)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: set only one to true.")
EMAIL_PORT = env.int("EMAIL_PORT", 465 if EMAIL_USE_SSL else 587, minimum=1, maximum=65535)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", 30, minimum=1)
# Without a broker, mail is delivered in the process that stored it (often a web request):
# one connection attempt, given up after this many seconds; the sweep retries later.
PORTAL_EMAIL_INLINE_TIMEOUT = env.int("PORTAL_EMAIL_INLINE_TIMEOUT", 3, minimum=1)
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = "accounts.correspondence.outbox.PrivateOutboxBackend"
EMAIL_FILE_PATH = VAR_DIR / "outbox"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "portal@localhost")
SERVER_EMAIL = env.str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

# Celery. Without a broker, tasks run in-process when queued (the embedded default).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", "")
if CELERY_BROKER_URL and CELERY_BROKER_URL.split("://", 1)[0] not in ("redis", "rediss", "amqp", "amqps", "pyamqp"):
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL must be a Redis (redis://, rediss://) or RabbitMQ (amqp://, amqps://) URL."
    )
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# Production fails closed: in-process tasks (a web request doing a billing run's work) and
# mail kept in a local folder are for trying the portal, not for running it. Each needs a
# setting that says so on purpose, and `check --deploy` still reports it (portal.W001/W002).
PORTAL_TASKS_IN_PROCESS = env.bool("PORTAL_TASKS_IN_PROCESS", default=not PRODUCTION)
PORTAL_MAIL_TO_OUTBOX = env.bool("PORTAL_MAIL_TO_OUTBOX", default=not PRODUCTION)
if PRODUCTION and CELERY_TASK_ALWAYS_EAGER and not PORTAL_TASKS_IN_PROCESS:
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL must be set when PORTAL_ENV=production (or PORTAL_TASKS_IN_PROCESS=true, "
        "to run background work inside web requests on purpose)."
    )
if PRODUCTION and not EMAIL_HOST and not PORTAL_MAIL_TO_OUTBOX:
    raise ImproperlyConfigured(
        "EMAIL_HOST must be set when PORTAL_ENV=production (or PORTAL_MAIL_TO_OUTBOX=true, to keep outgoing "
        "mail in the local outbox on purpose)."
    )
if CELERY_TASK_ALWAYS_EAGER:
    # Never connected to: tasks run in-process. Without a URL kombu falls back to amqp on
    # localhost and logs "No hostname was supplied" whenever a task is queued.
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A worker process is replaced after the task during which its resident memory passed this
# many KiB. WeasyPrint's native libraries keep ~0.3 MB per PDF rendered (measured: RSS grew
# ~110 MB per 250 invoices of a billing run, in the bare floor as much as in our code), so
# without it a worker that has issued a 10,000-invoice run holds some 3 GB.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", 512 * 1024, minimum=64 * 1024)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Mail delivery has its own queue, so an email never waits behind a billing run's PDFs:
# `deploy/run worker` consumes both queues, `deploy/run mail-worker` only this one
# (docs/operations.md). In-process (no broker) there are no queues and nothing changes.
PORTAL_MAIL_QUEUE = "mail"
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "accounts.tasks.deliver_message": {"queue": PORTAL_MAIL_QUEUE},
    "accounts.tasks.deliver_messages": {"queue": PORTAL_MAIL_QUEUE},
    "accounts.tasks.requeue_due_messages": {"queue": PORTAL_MAIL_QUEUE},
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Content-Security-Policy: nothing but the portal's own scripts, styles and images, no
# inline script or style, no plugins, never framed. A script injected into a page (say,
# through an email's HTML) cannot run. Optional analytics may add its script's origin.
_analytics_sources = env.list("PORTAL_CSP_SCRIPT_SOURCES")
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, *_analytics_sources],
    "connect-src": [CSP.SELF, *_analytics_sources],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (README "Production").
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("PORTAL_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("PORTAL_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("PORTAL_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("PORTAL_HSTS_PRELOAD", default=True)
    SILENCED_SYSTEM_CHECKS = env.list("PORTAL_SILENCED_SYSTEM_CHECKS")

# PORTAL_LOG_FORMAT=json: one JSON object per line, for a log collector (portal/logging.py).
PORTAL_LOG_FORMAT = env.str("PORTAL_LOG_FORMAT", "text")
if PORTAL_LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"PORTAL_LOG_FORMAT={PORTAL_LOG_FORMAT!r} must be text or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "portal.logging.RequestIdFilter"},
        "forbidden_in_one_line": {"()": "portal.errors.ForbiddenInOneLine"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "portal.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": PORTAL_LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": env.str("PORTAL_LOG_LEVEL", "INFO")},
    # Per-document chatter (WeasyPrint's steps, one line per task) would drown the log.
    "loggers": {
        "weasyprint.progress": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        # A refusal is one line, not a traceback (portal.errors).
        "django.request": {"filters": ["forbidden_in_one_line"]},
    },
}

# Optional error reporting (Sentry or compatible), without personal data: portal/observability.py.
PORTAL_SENTRY_DSN = env.str("PORTAL_SENTRY_DSN", "")
if PORTAL_SENTRY_DSN:
    from portal.observability import init_error_reporting

    init_error_reporting(PORTAL_SENTRY_DSN, environment=PORTAL_ENV, release=env.str("PORTAL_RELEASE", ""))

# The provider's financial year end (month, day), used by retention rules
# ("6 years from the end of the financial year", docs/privacy-retention.md).
_fye = env.str("PORTAL_FINANCIAL_YEAR_END", "03-31")
try:
    _fye_month, _fye_day = (int(part) for part in _fye.split("-"))
    import datetime as _dt

    _dt.date(2001, _fye_month, _fye_day)  # a non-leap year: 29 February is not a year end
except ValueError:
    raise ImproperlyConfigured(
        f"PORTAL_FINANCIAL_YEAR_END={_fye!r} must be a month and day as MM-DD, e.g. 03-31."
    ) from None
PORTAL_FINANCIAL_YEAR_END = (_fye_month, _fye_day)

# Bandwidth usage (docs/usage.md): raw 5-minute samples are kept until the invoice for
# their month is past the dispute window (in months from the invoice), then rolled up to
# daily totals; a sample faster than the line rate (Gbit/s) is refused as absurd.
PORTAL_USAGE_DISPUTE_MONTHS = env.int("PORTAL_USAGE_DISPUTE_MONTHS", 13, minimum=1)
PORTAL_USAGE_MAX_GBPS = env.int("PORTAL_USAGE_MAX_GBPS", 100, minimum=1)

# Correspondence (accounts.correspondence): the domain of our Message-IDs, limits on
# what we accept inbound, and how long correspondence is kept after an account closes.
PORTAL_MAIL_DOMAIN = env.str("PORTAL_MAIL_DOMAIN", DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost")
# The authserv-id our receiving mail server writes in Authentication-Results (RFC 8601):
# only its verdicts on SPF, DKIM and DMARC are trusted (accounts.correspondence.senders).
PORTAL_MAIL_AUTHSERV_ID = env.str("PORTAL_MAIL_AUTHSERV_ID", "")
# Seconds the forms that take someone's address answer in, whoever it is (core.timing).
PORTAL_UNIFORM_TIMING_FLOOR = env.float("PORTAL_UNIFORM_TIMING_FLOOR", 0.6, minimum=0)
PORTAL_INBOUND_MAX_ATTACHMENT_BYTES = env.int("PORTAL_INBOUND_MAX_ATTACHMENT_BYTES", 25 * 1024 * 1024, minimum=0)
PORTAL_CORRESPONDENCE_RETENTION_YEARS = env.int("PORTAL_CORRESPONDENCE_RETENTION_YEARS", 6, minimum=1)
# The abuse desk (docs/abuse.md): how long evidence and report details are kept after a
# case closes, how long reports about one service and type keep joining one case, and
# the limits on what a report may bring with it.
PORTAL_ABUSE_RETENTION_MONTHS = env.int("PORTAL_ABUSE_RETENTION_MONTHS", 12, minimum=1)
PORTAL_ABUSE_CASE_WINDOW_DAYS = env.int("PORTAL_ABUSE_CASE_WINDOW_DAYS", 7, minimum=1)
PORTAL_ABUSE_MAX_EVIDENCE_BYTES = env.int("PORTAL_ABUSE_MAX_EVIDENCE_BYTES", 5 * 1024 * 1024, minimum=1)
PORTAL_ABUSE_MAX_EVIDENCE_ITEMS = env.int("PORTAL_ABUSE_MAX_EVIDENCE_ITEMS", 20, minimum=1)

# Privacy centre (privacy app).
# Optional analytics (PECR reg 6): empty = strictly necessary cookies only, never a banner.
PORTAL_ANALYTICS_SNIPPET = env.str("PORTAL_ANALYTICS_SNIPPET", "")
PORTAL_ANALYTICS_WORDING = env.str("PORTAL_ANALYTICS_WORDING", "")
# Material policy changes are emailed this many days before they take effect (docs/privacy.md).
PORTAL_POLICY_NOTICE_DAYS = env.int("PORTAL_POLICY_NOTICE_DAYS", 30, minimum=1)

# The disclosure ledger's keys and checkpoints (docs/privacy-ledger.md), kept outside the
# database so that someone who can write the database cannot forge entries that verify.
# PORTAL_LEDGER_KEYS (or PORTAL_LEDGER_KEYS_FILE): "id:secret" pairs, separated by commas
# or new lines; the last one signs new entries, the earlier ones verify older entries.
PORTAL_LEDGER_KEYS: list[tuple[str, str]] = []
for _pair in filter(
    None, (p.strip() for p in (env.str("PORTAL_LEDGER_KEYS", "") or "").replace(",", "\n").split("\n"))
):
    _key_id, _, _secret = _pair.partition(":")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", _key_id) or len(_secret) < 32:
        raise ImproperlyConfigured(
            "PORTAL_LEDGER_KEYS takes id:secret pairs: an id of letters, digits, '.', '_' or '-' "
            "(at most 32) and a secret of at least 32 characters, e.g. 2026a:$(openssl rand -hex 32)."
        )
    if _key_id in dict(PORTAL_LEDGER_KEYS):
        raise ImproperlyConfigured(f"PORTAL_LEDGER_KEYS names the key {_key_id!r} twice.")
    PORTAL_LEDGER_KEYS.append((_key_id, _secret))
# With keys set, entries from this sequence number on must be signed (entries recorded
# before the keys were set have no signature).
PORTAL_LEDGER_SIGNED_FROM = env.int("PORTAL_LEDGER_SIGNED_FROM", 1, minimum=1)
# Where checkpoints of the chain's head are written: a directory the database's users
# cannot write (another host's mount, append-only storage). Empty: no checkpoints.
PORTAL_LEDGER_CHECKPOINT_DIR = env.str("PORTAL_LEDGER_CHECKPOINT_DIR", "")
# Storage access (docs/storage-access.md): the longest a grant may last, in hours.
PORTAL_STORAGE_GRANT_MAX_HOURS = env.int("PORTAL_STORAGE_GRANT_MAX_HOURS", 72, minimum=1)
# Lawful access (docs/lawful-access.md): staff are reminded of each disclosure still
# withheld from its customer this many days after it was recorded or last reviewed.
PORTAL_WITHHELD_REVIEW_DAYS = env.int("PORTAL_WITHHELD_REVIEW_DAYS", 30, minimum=1)
# The portal's public address, for absolute links in emails sent by background tasks.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", "")
