"""Celery's configuration is a plain copy of Django's CELERY_* settings
(crmsync/celeryconf.py): every one of them reaches Celery under its name, none is read as
a deprecated old-style name, and nothing else is in it."""

from __future__ import annotations

from django.conf import settings

from crmsync.celery import app
from crmsync.celeryconf import CONFIG


def test_every_celery_setting_reaches_celery_under_its_name():
    django_names = {name for name in dir(settings) if name.startswith("CELERY_")}
    assert len(CONFIG) == len(django_names)
    for name in django_names:
        celery_name = name.removeprefix("CELERY_").lower()
        key = celery_name if celery_name in CONFIG else name
        assert CONFIG[key] == getattr(settings, name), name
    assert app.conf.task_acks_late is settings.CELERY_TASK_ACKS_LATE is True
    assert app.conf.worker_prefetch_multiplier == settings.CELERY_WORKER_PREFETCH_MULTIPLIER
    assert app.conf.task_soft_time_limit == settings.CELERY_TASK_SOFT_TIME_LIMIT
    assert not app.conf.deprecated_settings
