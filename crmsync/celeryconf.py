"""Celery's configuration: Django's CELERY_* settings, copied into a plain dict.

Celery looks up several spellings of a setting for every message it sends and every task
it runs; each spelling Django's lazy settings object does not have is a failed attribute
lookup through it, slow enough to be a quarter of the time a 5,000-account tick spends
sending its messages (bench/README.md › Tenants). Settings do not change after start,
so the copy is the same configuration. Imported by Celery at the first use of its
configuration (`crmsync.celery`), when Django's settings module is complete.
"""

from __future__ import annotations

from typing import Any

from celery.app.defaults import DEFAULTS
from django.conf import settings


def _celery_name(name: str) -> str:
    """Celery's own name of a Django CELERY_* setting (CELERY_TASK_SERIALIZER →
    task_serializer); the others (CELERY_DB_REUSE_MAX, read by Celery's Django fixup) as
    they are."""
    own = name.removeprefix("CELERY_").lower()
    return own if own in DEFAULTS else name


CONFIG: dict[str, Any] = {
    _celery_name(name): getattr(settings, name)
    for name in dir(settings)
    if name.startswith("CELERY_")
}
