"""The Celery app. Configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")

app = Celery("crmsync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# crmsync's loggers, each with a stderr handler of its own (settings.LOGGING).
OWN_LOGGERS = ("crmsync", "exports", "accounts")


@after_setup_logger.connect
def log_through_celery(logger: logging.Logger, **_: Any) -> None:
    """A worker or beat gives the root logger `logger` a handler of its own; crmsync's
    lines reach it by propagation, so their own handlers would print each line twice.
    Drop those: one line each, in the worker's format (with its process name)."""
    for name in OWN_LOGGERS:
        logging.getLogger(name).handlers.clear()


@worker_ready.connect  # the worker's own process (the solo and threads pools run tasks here)
@worker_process_init.connect  # each prefork child, after the fork
def freeze_startup_objects(**_: Any) -> None:
    """Keep what the worker loaded at startup (Django, Celery, clients: hundreds of
    thousands of objects) out of the garbage collector's full collections, which
    otherwise scan all of it every few calls, holding up the thread waiting for
    Salesforce's answer: ~3 ms per 1,000-record call, 15 % of the throughput at 0 ms
    latency (bench/). Only startup objects are frozen; what tasks allocate is collected
    as usual."""
    gc.freeze()
