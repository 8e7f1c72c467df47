"""The Celery app crmsync sends its tasks with, and what crmsync adds to every worker.

In crmsync's own processes (`celery -A crmsync`, gunicorn crmsync.wsgi) this is crmsync's
app, configured from the Django settings' CELERY_* names. In a Django project that installs
crmsync's apps and made its own Celery app first (its `celery.py`, imported by its package's
`__init__.py` as Celery's Django guide has it) it is that project's app, configured by the
project: crmsync creates no second app, and sends through the project's (docs/integration.md
› Installed into your project). The signal receivers below apply to whichever app a worker
runs.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from celery import Celery
from celery import _state as celery_state
from celery.signals import (
    after_setup_logger,
    before_task_publish,
    worker_init,
    worker_process_init,
    worker_ready,
)
from celery.utils.serialization import jsonify
from celery.worker.control import inspect_command
from kombu.utils.encoding import safe_repr
from kombu.utils.url import maybe_sanitize_url

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")


def _project_app() -> Celery | None:
    """The Celery app this thread made current before crmsync was imported (a host
    project's), or None. Celery keeps it as the current app of the thread that created it;
    `get_current_app()` would make a fallback app instead of answering None."""
    tls = getattr(celery_state, "_tls", None)
    found = getattr(tls, "current_app", None)
    return found if isinstance(found, Celery) else None


PROJECT_APP = _project_app()
app = PROJECT_APP or Celery("crmsync")

if PROJECT_APP is None:
    # Read at the first use of the configuration, when Django's settings are complete
    # (crmsync/celeryconf.py: a plain copy of them, and why).
    app.config_from_object("crmsync.celeryconf:CONFIG")
    app.autodiscover_tasks()


@before_task_publish.connect
def no_time_limits_of_the_sender(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """A task runs under the time limits of the worker that runs it, never its sender's.

    Celery copies its process's CELERY_TASK_TIME_LIMIT / CELERY_TASK_SOFT_TIME_LIMIT into
    every task class the app loads and stamps them into each message the process sends
    (`apply_async`, `send_task` by name, a retry), and a worker obeys a message's limits
    over its own: a run or re-export sent from the admin, Flower or beat ran under their
    settings. Those stamped defaults are taken out; a limit given for one message stays."""
    stamped = (app.conf.task_time_limit, app.conf.task_soft_time_limit)
    if headers is not None and tuple(headers.get("timelimit") or ()) == stamped:
        headers["timelimit"] = (None, None)


# crmsync's loggers, each with a stderr handler of its own (settings.LOGGING, the same names).
OWN_LOGGERS = ("crmsync", "exports", "accounts", "salesforce", "sandbox")


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
    as usual, the youngest generation every YOUNG_COLLECTION_EVERY allocations (Python's
    700 started a collection several times a run, and every hundredth a full one). Threads
    hand the interpreter over sooner (SWITCH_INTERVAL_S)."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])
    sys.setswitchinterval(SWITCH_INTERVAL_S)


# How long a thread holding the interpreter runs before one waiting for it may take it
# (Python's default: 5 ms). A call's answer arrives in the HTTP thread while the link's
# thread works beside it (the cursor move, the next call's read-ahead: ~10 ms of CPU a
# call); at 5 ms the answer could wait that long before it was read and the next request
# went out, a tenth of a call's time at 25 ms of latency (bench/README.md › Compare at
# 25 ms). A backfill's threads use it too (exports.mapping.writer.quick_handoffs).
SWITCH_INTERVAL_S = 0.0005


# A small account's run allocates tens of thousands of objects, nearly all freed by reference
# counting: with the collector's young generation at 10,000 allocations (not 700) a worker
# spent about a quarter less CPU a run (bench/README.md › "A 50-record run's worker CPU");
# garbage in cycles waits a little longer, the memory it holds stays small.
YOUNG_COLLECTION_EVERY = 10_000


# A run's links (`export_batch`, its calls) travel on a queue of their own beside the queue
# the run was started on: `celery` → `celery.links`. A worker takes from both in turn
# (kombu's Redis transport serves the queues it consumes round-robin), so the first calls
# of thousands of accounts started by one tick never queue behind a long run's links, and
# a long run's next link never queues behind thousands of run starts (docs/operations.md › Deployment).
LINKS_SUFFIX = ".links"


def links_queue(queue: str) -> str:
    """The links queue paired with `queue` (itself, if it is one)."""
    return queue.removesuffix(LINKS_SUFFIX) + LINKS_SUFFIX


def routed_queues(celery_app: Celery) -> list[str]:
    """The queues tasks are sent to by name (CELERY_TASK_ROUTES): the notifications queue,
    which the Procfile's `notifier` serves. They carry no runs, so no links queue."""
    routes = celery_app.conf.task_routes or {}
    return list(dict.fromkeys(route["queue"] for route in routes.values()))


@worker_init.connect
def consume_links_queues(sender: Any, **_: Any) -> None:
    """Every export queue a worker consumes (`-Q`, or the default) brings its links queue: a
    worker started on `celery` alone would otherwise never take a run's links."""
    queues = sender.app.amqp.queues
    routed = routed_queues(sender.app)
    for name in list(queues.consume_from):
        if name not in routed:
            queues.select_add(links_queue(name))


MASK = "********"


@inspect_command()
def conf(state: Any, with_defaults: bool = False, **kwargs: Any) -> Any:
    """List configuration — what Flower's worker "Config" tab shows — with the password of
    every URL in it masked.

    Celery's own `conf` masks `broker_url` by that key only; a URL under any other key (it
    once was Django's CELERY_BROKER_URL; a result backend, a cache URL) would show its
    password. This command (registered under the same name, so it replaces Celery's in the
    worker) masks by value.
    """
    table = state.app.conf.table(with_defaults=with_defaults)  # Celery's censoring first
    return jsonify(
        _masked(table),
        keyfilter=lambda key: isinstance(key, str) and not key.startswith("__"),
        unknown_type_filter=safe_repr,
    )


def _masked(value: Any) -> Any:
    """`value` with the password of every URL string in it (nested too) replaced by MASK."""
    if isinstance(value, Mapping):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    try:
        return maybe_sanitize_url(value, mask=MASK)
    except ValueError:  # looks like a URL but does not parse: show none of it
        return MASK
