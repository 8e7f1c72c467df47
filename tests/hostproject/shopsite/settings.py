"""The host project's settings: its own, and crmsync's (`from crmsync.defaults import *`).

The environment of the test that runs it gives SHOP_DATABASE (an SQLite file of its own),
SHOP_SECRET_KEY, SHOP_CELERY_QUEUE, and crmsync's variables (CRMSYNC_ENCRYPTION_KEY,
CELERY_BROKER_URL, CRMSYNC_EXTRA_LOGIN_HOSTS, ...: docs/configuration.md).
"""

import os

from crmsync.defaults import *  # noqa: F403  (crmsync's settings: CRMSYNC_*, CELERY_*)
from crmsync.defaults import cache_config

SECRET_KEY = os.environ["SHOP_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # crmsync's apps, and the beat schedule's store
    "django_celery_beat",
    "accounts",
    "exports",
    # the project's own
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "shopsite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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

# SQLite in WAL mode, so the worker process and this one write side by side.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["SHOP_DATABASE"],
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;",
            "transaction_mode": "IMMEDIATE",
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# crmsync keeps Salesforce tokens and describes in the default cache (JSON only, signed).
CACHES = {"default": cache_config(os.environ.get("SHOP_CACHE_URL", "locmem://"))}
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

# The project's own Celery settings on top of crmsync's.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("SHOP_CELERY_QUEUE", "celery")
