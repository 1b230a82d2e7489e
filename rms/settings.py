"""Settings for every environment, read from environment variables with embedded defaults.

Unset ``DATABASE_URL`` means a SQLite file in the project folder; unset ``CELERY_BROKER_URL``
means Celery runs tasks inline (eager). ``RMS_ENV=production`` turns on the hardened mode,
which refuses to start without a secret key and allowed hosts. ``.env.example`` documents
every variable.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

RMS_ENV = env.str("RMS_ENV", default="development")
if RMS_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"RMS_ENV must be 'development' or 'production', not {RMS_ENV!r}.")
PRODUCTION = RMS_ENV == "production"

if PRODUCTION:
    # No fallback: a production server with a guessable key signs forgeable sessions.
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set to at least 50 random characters when "
            "RMS_ENV=production (python -c 'import secrets; print(secrets.token_urlsafe(64))')."
        )
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when RMS_ENV=production.")
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-key")
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION)

INSTALLED_APPS = [
    # The admin theme (colours, logo, foldable apps): before the admin, whose templates it extends.
    "admin_interface",
    "colorfield",
    "rms.admin_site.RMSAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "djmoney",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "import_export",
    "simple_history",
    "rms",
    "contracts",
    "billing",
    "revenue",
    "webhooks",
    "imports",
    "reports",
    "workspace",
    # Last: its post_migrate sets the role groups' permissions, once every app has made its own.
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Hands the request (its user, and the API token DRF authenticated) to the audit trail.
    "simple_history.middleware.HistoryRequestMiddleware",
    "integrations.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "rms.urls"
WSGI_APPLICATION = "rms.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # A deployer's own templates (an invoice layout, an email) come first and override ours
        # by name, without a code change: RMS_TEMPLATE_DIRS=/etc/rms/templates.
        "DIRS": [*filter(None, env.list("RMS_TEMPLATE_DIRS", default=[])), BASE_DIR / "templates"],
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

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The token-scope backend comes first: it vetoes what a scoped API token does not allow.
AUTHENTICATION_BACKENDS = [
    "integrations.authentication.TokenScopeBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("RMS_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=BASE_DIR / "media")

# Money: no CURRENCIES or DEFAULT_CURRENCY setting on purpose. django-money writes both into
# migrations, so every ISO 4217 currency stays allowed and each record names its own.
# Amounts in different currencies are never converted into each other. django-money's default
# too, but it looks this setting up on every addition of Money, and a missing setting is a
# raised AttributeError each time: a bill run adds tens of thousands of amounts.
AUTO_CONVERT_MONEY = False

# Celery: eager (inline, errors propagate) until a broker is named.
_broker = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not _broker
CELERY_TASK_EAGER_PROPAGATES = True
# Eager calls still build a producer to serialize arguments; the in-memory transport keeps it
# from being an AMQP connection to localhost.
CELERY_BROKER_URL = _broker or "memory://"
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=_broker or None)
# A task is acknowledged when it has run, and given back to the queue if its worker dies, so a
# killed worker's bill-run chunk is processed again (its transaction had rolled back).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis hands an unacknowledged task (its worker died) to another worker after this many
# seconds; Redis's own default is an hour. Longer than any task runs, or a slow task would be
# delivered twice while running (harmless for bill-run chunks, which are idempotent, but wasted).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900)
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Billing: invoices of a bill run wait as drafts for review (True) or are issued at once (False);
# a customer can override this either way.
RMS_INVOICE_REVIEW = env.bool("RMS_INVOICE_REVIEW", default=False)
# Email invoices and credit notes as they are issued; off, they go out only through "resend"
# (e.g. while loading historical invoices, or in a benchmark of the bill run alone).
RMS_AUTO_DELIVERY = env.bool("RMS_AUTO_DELIVERY", default=True)
# Renewals: the notice goes to the contract's finance owner (else to RMS_RENEWALS_EMAIL) this many
# days before the notice deadline (the term end minus the contract's notice period).
RMS_RENEWAL_NOTICE_LEAD_DAYS = env.int("RMS_RENEWAL_NOTICE_LEAD_DAYS", default=30)
RMS_RENEWALS_EMAIL = env.str("RMS_RENEWALS_EMAIL", default="")

# Email: written as files under sent-emails/ until an EMAIL_URL (smtp://user:pass@host:587/
# ?tls=True) is given. Files rather than the console: invoices carry PDFs, which would fill it.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="filemail:///sent-emails")
if EMAIL_CONFIG.get("EMAIL_FILE_PATH"):
    # django-environ drops the leading slash; a relative folder is the project's.
    EMAIL_CONFIG["EMAIL_FILE_PATH"] = str(BASE_DIR / EMAIL_CONFIG["EMAIL_FILE_PATH"])
vars().update(EMAIL_CONFIG)
# Where people reach this app, for links in notification emails.
RMS_SITE_URL = env.str("RMS_SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
DEFAULT_FROM_EMAIL = env.str("RMS_DEFAULT_FROM_EMAIL", default="billing@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        # Reads need the model's view permission too (DRF's own class lets any login read).
        "rms.api_permissions.ModelPermissions",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "rms.api_errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    # Per caller (a token's user, or the address of an anonymous one); a client over its rate
    # gets 429 with Retry-After.
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("RMS_API_RATE_ANON", default="60/minute"),
        "user": env.str("RMS_API_RATE_USER", default="6000/minute"),
    },
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 100,
}
# The cache holds API rate-limit counters: per process by default; give every process the same
# one (CACHE_URL=redis://127.0.0.1:6379/2) so that a limit holds across web workers.
CACHES = {
    "default": env.cache_url("CACHE_URL", default="locmemcache://"),
    # The admin theme, read on every page: kept in each process until the theme is saved (the
    # theme app clears it then), so pages never query it after the first.
    "admin_interface": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "admin-interface",
        "TIMEOUT": None,
    },
}

# How long a create's response is kept for a retry with the same Idempotency-Key.
RMS_IDEMPOTENCY_DAYS = env.int("RMS_IDEMPOTENCY_DAYS", default=7)

# CSV imports: the largest file accepted, in MB (a 50 MB file is about 250,000 contract lines).
RMS_IMPORT_MAX_MB = env.int("RMS_IMPORT_MAX_MB", default=100)

# The audit trail is a record, not an undo: the admin shows past versions but never restores one.
SIMPLE_HISTORY_REVERT_DISABLED = True

SPECTACULAR_SETTINGS = {
    "TITLE": "RMS API",
    "DESCRIPTION": "Billing and ASC 606 / IFRS 15 revenue recognition.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "rms.api_schema.error_responses",
    ],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Served from our own static files: the app must work with no internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Invoice statuses appear in several components (invoice, its reference in a milestone);
    # named here, or the schema calls them by a hash.
    "ENUM_NAME_OVERRIDES": {
        "InvoiceStatusEnum": "billing.models.Invoice.Status",
        # A product's default billing model and revenue policy are a line's too.
        "BillingModelEnum": "contracts.models.BillingModel",
        "RevenuePolicyEnum": "contracts.models.RevenuePolicy",
        "AuditChangeTypeEnum": ["created", "changed", "deleted"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("RMS_LOG_LEVEL", default="INFO")},
    "loggers": {
        # Eager mode still builds a kombu connection object (never opened) and kombu warns that
        # it has no hostname; with no broker in use, that warning says nothing.
        "kombu.connection": {"level": "ERROR" if CELERY_TASK_ALWAYS_EAGER else "WARNING"},
        # WeasyPrint logs every rendering step at INFO; its warnings (a missing font) matter.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Only a header: the domain joins browsers' preload lists if its owner submits it.
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }

# Webhooks: seconds to wait for a subscriber's answer, and attempts before a delivery gives up
# (retried after 1 and 5 minutes, 30 minutes, 2, 5 and 10 hours, then every 12 hours: the
# default 10 attempts span about two days).
RMS_WEBHOOK_TIMEOUT = env.int("RMS_WEBHOOK_TIMEOUT", default=10)
RMS_WEBHOOK_MAX_ATTEMPTS = env.int("RMS_WEBHOOK_MAX_ATTEMPTS", default=10)
