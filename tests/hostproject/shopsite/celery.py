"""The host project's Celery app: it runs crmsync's tasks (exports.tasks) beside its own."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")

app = Celery("shopsite")
# The project's CELERY_* settings (crmsync's, from crmsync.defaults, and the project's own) as
# Celery's configuration: crmsync's copy of them into a plain dict, read at first use.
# `app.config_from_object("django.conf:settings", namespace="CELERY")` works too.
app.config_from_object("crmsync.celeryconf:CONFIG")
# Every installed app's tasks.py: exports.tasks (crmsync's tasks) and the project's own.
app.autodiscover_tasks()
