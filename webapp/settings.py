"""inkloop settings, read from the environment.

Every value a deployment changes comes from an environment variable; the
defaults are safe (DEBUG off, no hosts allowed). `make run` and `make test`
start embedded services and export `DATABASE_URL` and friends before Django
starts (see `webapp/devstack.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


DEBUG = env_bool("DEBUG")

# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. `make run` and `make test` set it for you; "
        "in production export a long random value."
    )

# https://docs.djangoproject.com/en/5.2/ref/settings/#allowed-hosts
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "webapp.projects",
    "webapp.corpus",
    "webapp.training",
    "webapp.predictions",
    "webapp.review",
    "webapp.outbox",
]

MIDDLEWARE = [
    # First, so a preflight is answered before anything else can answer it (labeling/cors.py says for what).
    "corsheaders.middleware.CorsMiddleware",
    # Before anything reads the query string or the Authorization header (webapp/request_guard.py says why).
    "webapp.request_guard.RefuseNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Database errors from any view become 503 + Retry-After (webapp/outages.py).
    "webapp.outages.DatabaseOutageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"
ASGI_APPLICATION = "webapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "webapp" / "templates"],
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

# inkloop's database is always PostgreSQL (full-text and trigram search, row locks).
# https://docs.djangoproject.com/en/5.2/ref/settings/#databases
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. `make run` / `make test` start an embedded PostgreSQL "
        "and set it; otherwise point it at a PostgreSQL server."
    )
# DB_CONN_MAX_AGE > 0 keeps each process's connection between requests (compose: 60 s): a new connection
# costs PostgreSQL a backend process, most of its CPU per webhook in bench/webhook_load.py. The health
# check replaces a connection a database restart broke before a request uses it.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
                                              conn_health_checks=True)}
if os.environ.get("INKLOOP_TEST_DATABASE"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["INKLOOP_TEST_DATABASE"]}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...).")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Files served at the site's root, such as the /favicon.ico browsers ask every site for.
# https://whitenoise.readthedocs.io/en/stable/django.html#WHITENOISE_ROOT
WHITENOISE_ROOT = BASE_DIR / "webapp" / "root"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / ".devstack" / "static"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / ".devstack" / "media"))
# Media is never served by URL path: page images go out through signed URLs only.
MEDIA_URL = "/media-not-served/"

# Page images, checkpoints and exports: local disk by default; an S3-compatible store (MinIO in
# docker-compose.yml) when AWS_STORAGE_BUCKET_NAME is set, so workers on other machines share them.
# https://django-storages.readthedocs.io/en/latest/backends/amazon-S3.html
if os.environ.get("AWS_STORAGE_BUCKET_NAME"):
    DEFAULT_STORAGE = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": os.environ["AWS_STORAGE_BUCKET_NAME"],
        "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
        "default_acl": None, "querystring_auth": True, "file_overwrite": False}}
else:
    DEFAULT_STORAGE = {"BACKEND": os.environ.get("DEFAULT_FILE_STORAGE",
                                                 "django.core.files.storage.FileSystemStorage")}
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage" if not DEBUG
                    else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Uploads: Django spools anything over this to a temp file; our own limits are in INKLOOP_*.
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = os.environ.get("FILE_UPLOAD_TEMP_DIR") or None
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 2000

# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "webapp.api.schema.InkloopAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "webapp.api.errors.exception_handler",
    # JSON bodies only, unless a view takes files and says so (uploads, imports, checkpoints, predictions).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # `?format=` selects an export format (alto, page, text), not a renderer.
    "URL_FORMAT_OVERRIDE": None,
}

# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": "inkloop API",
    "DESCRIPTION": "Pages, lines and models of human-in-the-loop handwritten text recognition.",
    "VERSION": "0.1.0",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files, never a CDN: /api/docs/ works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PageStatusEnum": "webapp.corpus.models.PageStatus",
        "TrainingRunStatusEnum": "webapp.training.models.RunStatus",
        "ModelVersionStatusEnum": "webapp.training.models.ModelStatus",
    },
}

# https://docs.djangoproject.com/en/5.2/topics/auth/default/#django.contrib.auth.views.LoginView
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# Password reset mails: printed to the console in development, SMTP (EMAIL_* settings) otherwise.
# https://docs.djangoproject.com/en/5.2/topics/email/#email-backends
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend" if DEBUG
                               else "django.core.mail.backends.smtp.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "inkloop@localhost")

# Security: https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
# Behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER_ENABLED=1.
if env_bool("SECURE_PROXY_SSL_HEADER_ENABLED"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^api/health/$"]  # load balancers probe over plain HTTP
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
# Cookies belong to a host, not to a port: Label Studio (also Django) on the same host uses Django's default
# names, so with those names logging into one app would log out of the other.
# https://docs.djangoproject.com/en/5.2/ref/settings/#session-cookie-name
SESSION_COOKIE_NAME = "inkloop_sessionid"
CSRF_COOKIE_NAME = "inkloop_csrftoken"
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# inkloop's own knobs.
INKLOOP_MAX_UPLOAD_BYTES = env_int("INKLOOP_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
INKLOOP_MAX_IMAGE_PIXELS = env_int("INKLOOP_MAX_IMAGE_PIXELS", 80_000_000)
INKLOOP_MAX_LINE_TEXT = env_int("INKLOOP_MAX_LINE_TEXT", 2000)
# ALTO/PAGE imports (API and `manage.py import_layout`) read a zip from disk one file at a time, so
# a whole collection fits in one: these bound the zip, what it unpacks to and its pages. Each image
# or XML in it still has INKLOOP_MAX_UPLOAD_BYTES. An upload is spooled to FILE_UPLOAD_TEMP_DIR.
INKLOOP_MAX_IMPORT_BYTES = env_int("INKLOOP_MAX_IMPORT_BYTES", 20 * 1024**3)
INKLOOP_MAX_IMPORT_UNPACKED_BYTES = env_int("INKLOOP_MAX_IMPORT_UNPACKED_BYTES", 2 * INKLOOP_MAX_IMPORT_BYTES)
INKLOOP_MAX_IMPORT_PAGES = env_int("INKLOOP_MAX_IMPORT_PAGES", 100_000)
INKLOOP_SIGNED_URL_MAX_AGE = env_int("INKLOOP_SIGNED_URL_MAX_AGE", 24 * 3600)

# Training and the model registry (see webapp/training/services.py).
INKLOOP_DEVICE = os.environ.get("INKLOOP_DEVICE", "auto")  # auto | cpu | cuda
INKLOOP_CACHE_DIR = os.environ.get("INKLOOP_CACHE_DIR", "")
INKLOOP_MIN_VAL_LINES = env_int("INKLOOP_MIN_VAL_LINES", 20)
INKLOOP_MIN_VAL_PAGES = env_int("INKLOOP_MIN_VAL_PAGES", 1)
# The review queue highlights characters the model gave less than this probability.
INKLOOP_REVIEW_CHAR_THRESHOLD = float(os.environ.get("INKLOOP_REVIEW_CHAR_THRESHOLD", 0.8))
INKLOOP_HEARTBEAT_TIMEOUT = env_int("INKLOOP_HEARTBEAT_TIMEOUT", 300)
INKLOOP_MAX_RUN_ATTEMPTS = env_int("INKLOOP_MAX_RUN_ATTEMPTS", 3)
INKLOOP_WATCHDOG_INTERVAL = env_int("INKLOOP_WATCHDOG_INTERVAL", 60)
# Queued work (a training run, a prediction job) that no worker has picked up this long after it was
# last handed to the broker is handed over again: the broker may have lost the message (a Redis
# restarted without persistence). A message still waiting in the queue only gets a harmless duplicate.
INKLOOP_QUEUED_HANDOVER_SECONDS = env_int("INKLOOP_QUEUED_HANDOVER_SECONDS", 15 * 60)

# The outbox (webapp/outbox/): Celery messages recorded in PostgreSQL with the write that asked for them.
# The sweeper (beat, every INKLOOP_OUTBOX_SWEEP_SECONDS, and at each worker start) sends the rows the
# broker did not take at commit once they are INKLOOP_OUTBOX_SWEEP_AFTER_SECONDS old; sent rows are kept
# INKLOOP_OUTBOX_KEEP_SENT_SECONDS, as the record of when work was last handed over.
INKLOOP_OUTBOX_SWEEP_SECONDS = env_int("INKLOOP_OUTBOX_SWEEP_SECONDS", 10)
INKLOOP_OUTBOX_SWEEP_AFTER_SECONDS = env_int("INKLOOP_OUTBOX_SWEEP_AFTER_SECONDS", 5)
INKLOOP_OUTBOX_KEEP_SENT_SECONDS = env_int("INKLOOP_OUTBOX_KEEP_SENT_SECONDS", 24 * 3600)
# JSON: {"epochs": {"recognizer": 30}, "max_minutes": {...}, "recognizer": {TrainConfig fields, "model": {...}},
#        "recognizer_fine_tuning": {TrainConfig fields for runs from a model},
#        "detector": {"model": {...}, "train": {...}}}
INKLOOP_TRAINING = json.loads(os.environ.get("INKLOOP_TRAINING", "{}"))

# Label Studio (the `labeling` app): https://labelstud.io/guide/webhooks and /guide/ml
INSTALLED_APPS += ["labeling"]
LABEL_STUDIO_URL = os.environ.get("LABEL_STUDIO_URL", "").rstrip("/")
LABEL_STUDIO_API_KEY = os.environ.get("LABEL_STUDIO_API_KEY", "")  # a personal access token or a legacy token
LABEL_STUDIO_TIMEOUT = float(os.environ.get("LABEL_STUDIO_TIMEOUT", 15))
# Where annotators' browsers open Label Studio, when that is not where inkloop's server reaches it (as on a
# compose network); empty means LABEL_STUDIO_URL. Links to tasks point there, and the task images answer
# its origin (labeling/cors.py).
LABEL_STUDIO_BROWSER_URL = os.environ.get("LABEL_STUDIO_BROWSER_URL", "").rstrip("/")
# Cross-origin reads (CORS) are allowed on Label Studio's task images only, for the origins labeling/cors.py
# allows (none by these settings alone), never with credentials: the token in the URL is the credential.
# https://github.com/adamchainz/django-cors-headers#configuration
CORS_URLS_REGEX = r"^/labeling/pages/[^/]+/\d+/image/$"
CORS_ALLOWED_ORIGINS: list[str] = []
CORS_ALLOW_METHODS = ["GET", "HEAD", "OPTIONS"]
CORS_ALLOW_CREDENTIALS = False
# Where Label Studio's server reaches inkloop (webhook, ML backend), and where an annotator's browser
# loads task images from (the same unless they differ, as on a compose network).
INKLOOP_PUBLIC_URL = os.environ.get("INKLOOP_PUBLIC_URL", "http://localhost:8000").rstrip("/")
INKLOOP_BROWSER_URL = (os.environ.get("INKLOOP_BROWSER_URL") or INKLOOP_PUBLIC_URL).rstrip("/")
# Label Studio webhooks carry no signature: this secret travels in a header and is compared in constant time.
# It also is the ML backend's basic-auth password.
# By default derived from SECRET_KEY (one-way), so the key itself never leaves inkloop.
LABEL_STUDIO_WEBHOOK_SECRET = (os.environ.get("LABEL_STUDIO_WEBHOOK_SECRET")
                               or hashlib.sha256(f"label-studio-webhook:{SECRET_KEY}".encode()).hexdigest())
LABEL_STUDIO_SYNC_SECONDS = env_int("LABEL_STUDIO_SYNC_SECONDS", 300)
# Label Studio calls these over the internal network, where no TLS proxy adds X-Forwarded-Proto.
SECURE_REDIRECT_EXEMPT += [r"^labeling/webhook/$", r"^ml/"]

# ---------------------------------------------------------------- login limits and the shared cache
# Failed logins per username and address (django-axes) and requests for API tokens per address
# (DRF throttling); see webapp/login_limits.py. Both must hold across every web process:
# axes keeps its records in PostgreSQL, the throttle counts in Redis.
# https://docs.djangoproject.com/en/5.2/topics/cache/#redis
# https://www.django-rest-framework.org/api-guide/throttling/
# https://django-axes.readthedocs.io/en/latest/4_configuration.html


def redis_database(url: str, number: int) -> str:
    """The same Redis server as `url`, database `number`: the cache never shares the broker's keys
    (and a cache clear, FLUSHDB, never empties Celery's queues)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.scheme == "unix":  # unix:///path/redis.sock?db=0 (urlunsplit would drop the empty host)
        return f"unix://{parts.path}?{urlencode(dict(parse_qsl(parts.query), db=str(number)))}"
    return urlunsplit(parts._replace(path=f"/{number}"))


CACHES = {"default": {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": os.environ.get("CACHE_REDIS_URL")
    or redis_database(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), env_int("INKLOOP_CACHE_REDIS_DB", 1)),
    "KEY_PREFIX": "inkloop",
}}
# Proxies in front of the web app that append the caller's address to X-Forwarded-For: the address
# limits count by (webapp.login_limits.client_address). One TLS proxy when SECURE_PROXY_SSL_HEADER_ENABLED.
INKLOOP_TRUSTED_PROXIES = env_int("INKLOOP_TRUSTED_PROXIES", 1 if env_bool("SECURE_PROXY_SSL_HEADER_ENABLED") else 0)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"auth_token": os.environ.get("INKLOOP_TOKEN_RATE", "20/minute")}
INSTALLED_APPS += ["axes"]
# Last, as axes asks: it turns a lockout its backend signalled into the 429 answer.
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("INKLOOP_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("INKLOOP_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "webapp.login_limits.client_address"
AXES_LOCKOUT_CALLABLE = "webapp.login_limits.lockout_response"
