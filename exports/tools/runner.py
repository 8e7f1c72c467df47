"""Run an export through Celery and wait for its outcome (`crm_export`, the demo).

With the embedded broker (`memory://`, the default) nobody else consumes the
queue, so a worker runs inside this process for the duration of the run; with
Redis the external workers do the work. Either way the run goes through the real
tasks and chain, never through direct calls.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from django.conf import settings

from accounts.models import Account
from crmsync.celery import app, routed_queues
from exports.models import ExportCursor, ExportRun

PROGRESS_COLUMNS = 100


class RunTimeout(Exception):
    pass


def embedded_broker() -> bool:
    return str(app.conf.broker_url or settings.CELERY_BROKER_URL).startswith("memory://")


@contextmanager
def embedded_worker() -> Iterator[None]:
    """A Celery worker thread in this process, for the embedded broker: it runs the
    export tasks and sends the alerts (the notifications queue), as the Procfile's `worker`
    and `notifier` do."""
    from celery.contrib.testing.worker import start_worker

    queues = [app.conf.task_default_queue, *routed_queues(app)]
    with start_worker(
        app, pool="solo", perform_ping_check=False, queues=queues, shutdown_timeout=30
    ):
        yield


def worker_if_embedded() -> AbstractContextManager[None]:
    return embedded_worker() if embedded_broker() else nullcontext()


def run_and_wait(
    account: Account,
    trigger: str = ExportRun.Trigger.MANUAL,
    timeout: float = 3600.0,
    on_progress: Callable[[ExportRun, int], None] | None = None,
) -> ExportRun:
    """Write a run row, send `run_export` for it, and poll the row until it has an outcome."""
    from exports.tasks import run_export

    run = ExportRun.objects.create(account=account, trigger=trigger)
    with worker_if_embedded():
        run_export.apply_async(args=[account.id], kwargs={"trigger": trigger, "run_id": run.id})  # type: ignore[arg-type]  # celery takes a list; celery-types: a tuple
        return wait_for_run(run.id, timeout, on_progress)


def wait_for_run(
    run_id: int, timeout: float, on_progress: Callable[[ExportRun, int], None] | None = None
) -> ExportRun:
    deadline = time.monotonic() + timeout
    while True:
        run = ExportRun.objects.get(id=run_id)
        if on_progress:
            on_progress(run, backlog(run.account_id))
        if run.outcome:
            return run
        if time.monotonic() > deadline:
            raise RunTimeout(
                f"run {run_id} has no outcome after {timeout:.0f}s; is a worker running "
                f"(broker {settings.CELERY_BROKER_URL.split('@')[-1]})?"
            )
        time.sleep(0.1)


def progress_bar(run: ExportRun, backlog: int) -> None:
    """A one-line progress bar on stderr (an `on_progress` for `run_and_wait`); while the
    run waits to retry a call, the line ends with the run's note ("retry 3/6 in 15 s:
    connection refused")."""
    # A paused run's parked record is both attempted (it failed) and still in the backlog.
    total = run.attempted + backlog - (run.outcome == ExportRun.Outcome.PAUSED)
    width = 40
    filled = int(width * run.attempted / total) if total else width
    note = f" — {run.message}" if run.message and not run.outcome else ""
    line = f"  [{'#' * filled}{'.' * (width - filled)}] {run.attempted:>6}/{total} records{note}"
    # Pad over a longer line drawn before (a note that is gone now).
    sys.stderr.write(f"\r{line:<{PROGRESS_COLUMNS}}")
    sys.stderr.flush()


def backlog(account_id: int) -> int:
    cursor = ExportCursor.objects.filter(account_id=account_id).first()
    after = cursor.last_exported_id if cursor else 0
    return Account.objects.get(id=account_id).export_records.filter(id__gt=after).count()


def run_summary(run: ExportRun) -> dict[str, Any]:
    """The `crm_export --json` object (docs/commands.md)."""
    cursor = (
        ExportCursor.objects.select_related("paused_record").filter(account=run.account).first()
    )
    paused = cursor.paused_record if cursor and run.outcome == ExportRun.Outcome.PAUSED else None
    failed = run.outcome == ExportRun.Outcome.FAILED
    return {
        "account": run.account.slug,
        "run_id": run.id,
        "outcome": run.outcome,
        "attempted": run.attempted,
        "exported": run.exported,
        "failed": run.failed,
        "api_calls": run.api_calls,
        "paused_record_id": paused.id if paused else None,
        "paused_external_id": paused.external_id if paused else None,
        "error_code": (cursor.last_error_code or None) if (paused or failed) and cursor else None,
        "error_message": (
            (cursor.last_error_message or run.message or None)
            if (paused or failed) and cursor
            else None
        ),
        "message": run.message,
    }
