"""Django settings for crmsync.

Every value an operator may change comes from the environment, in this file and in
crmsync/defaults.py (the settings crmsync's apps read, which a host project imports too),
and is listed in docs/configuration.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from crmsync import keys
from crmsync.defaults import *  # noqa: F403  (CRMSYNC_*, CELERY_*: crmsync's apps read them)
from crmsync.defaults import (
    CELERY_BROKER_URL,
    CRMSYNC_DEV,
    DEV_KEYS_FILE,
    cache_config,
    env_bool,
    env_int,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CRMSYNC_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", False)
# CRMSYNC_DEV (crmsync/defaults.py: CRMSYNC_DEV=1 or DJANGO_DEBUG=1): a development machine.
# Keys fail closed: without CRMSYNC_DEV a missing key stops every process here, naming it.
SECRET_KEY = keys.required_key(
    keys.SECRET_KEY_VAR, os.environ, DEV_KEYS_FILE if CRMSYNC_DEV else None
)
ALLOWED_HOSTS = [
    h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h
]

# --- HTTPS ------------------------------------------------------------------------
# Production serves the admin through a TLS-terminating reverse proxy (gunicorn binds
# 127.0.0.1). DJANGO_HTTPS (default: on, off when CRMSYNC_DEV) makes cookies Secure,
# redirects http:// to https:// and sends HSTS. The proxy must set X-Forwarded-Proto
# (overwriting any a client sent): DJANGO_SECURE_PROXY_SSL_HEADER names that header ("" for
# none), so Django knows a request came over TLS (else every request looks like http://,
# redirects loop and admin POSTs fail the CSRF origin check). DJANGO_CSRF_TRUSTED_ORIGINS:
# comma-separated https://host origins the admin is reached at, when the proxy does not
# pass the browser's Host. `manage.py check --deploy --fail-level WARNING` passes with
# these defaults (CI runs it).
HTTPS = env_bool("DJANGO_HTTPS", not CRMSYNC_DEV)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
_proxy_header = os.environ.get(
    "DJANGO_SECURE_PROXY_SSL_HEADER", "HTTP_X_FORWARDED_PROTO" if HTTPS else ""
).strip()
SECURE_PROXY_SSL_HEADER = (_proxy_header, "https") if _proxy_header else None
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]
# HSTS preload is an opt-in for the whole domain (DJANGO_HSTS_PRELOAD), not a default:
# `check --deploy`'s reminder about it (W021) is silenced until then.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

INSTALLED_APPS = [
    "crmsync.apps.AdminConfig",  # django.contrib.admin, with crmsync.admin_site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "accounts",
    "exports",
    # The local Salesforce stand-in (`make sandbox`, the demo, tests, benchmarks): a
    # development app, installed only on a development machine.
    *(["sandbox"] if CRMSYNC_DEV else []),
    # An example host app whose models export themselves by declaration (the demo, tests).
    *(["crmsync.example"] if CRMSYNC_DEV else []),
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ from STATIC_ROOT in every web process (gunicorn under `make run`).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "crmsync.urls"
WSGI_APPLICATION = "crmsync.wsgi.application"

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
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# DATABASE_URL, e.g. postgres://user@127.0.0.1:5432/crmsync. Default: SQLite
# under var/, in WAL mode with a busy timeout so a worker thread and the main
# thread can write side by side (else "database is locked").
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'crmsync.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# CRMSYNC_CACHE_URL: the cache every worker shares (tokens, describes, per-org call slots).
# Default: the broker's Redis when the broker is Redis, else this process's memory.
CRMSYNC_CACHE_URL = os.environ.get("CRMSYNC_CACHE_URL") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "locmem://"
)
CACHES = {"default": cache_config(CRMSYNC_CACHE_URL)}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------
# The admin's CSS and scripts (and accounts/static/) are collected into STATIC_ROOT by
# `manage.py collectstatic` (`make run` runs it before starting the stack) and served by
# WhiteNoise from the web process itself: compressed, with content-hashed names that
# browsers may cache for ever. `DJANGO_DEBUG=1 manage.py runserver` serves them unhashed.
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # else WhiteNoise warns in every process until collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Email (crmsync's alerts go through Django's email backend) ---------------------
# Email goes through Django's email backend: the console by default (prints the message),
# SMTP when EMAIL_HOST is set (EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD,
# EMAIL_USE_TLS / EMAIL_USE_SSL as Django names them).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "crmsync@localhost")

CRMSYNC_LOG_LEVEL = os.environ.get("CRMSYNC_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "plain",
        }
    },
    # A Celery worker or beat prints these through its own root handler instead (one line
    # each, in Celery's format): crmsync/celery.py `log_through_celery`.
    "loggers": {
        name: {"handlers": ["stderr"], "level": CRMSYNC_LOG_LEVEL}
        for name in ("crmsync", "exports", "accounts", "salesforce", "sandbox")
    }
    # Server errors (500) of the web process, with their traceback, on stderr (gunicorn's
    # log); once, also under `DJANGO_DEBUG=1 runserver` (whose console handler is on "django").
    | {"django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False}},
}

# Tests on SQLite use a file (not :memory:) so a worker thread sees committed rows; on
# PostgreSQL a database of this process's own, so two test runs on one server don't collide.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
