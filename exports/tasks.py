"""Celery tasks. Names are public (Flower, beat): keep them stable.

Each task is thin: check its JSON arguments, call one function, let Celery retry
transient faults with backoff and jitter. Arguments are ids, never payloads.
"""

from __future__ import annotations

import logging
from typing import Any, TypedDict

from celery import Task, shared_task
from celery.app.task import Context
from celery.exceptions import MaxRetriesExceededError, SoftTimeLimitExceeded
from celery.signals import task_postrun
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import InterfaceError, OperationalError, connections

from accounts.models import CRMSettings
from crmsync.celery import links_queue as celery_links_queue
from exports import retention
from exports.alerts import delivery as notify
from exports.alerts import evaluate as alerts
from exports.models import ExportCursor
from exports.reporting import run_totals
from exports.run import failures, link, outage, overlap, reexport, runs
from exports.run.runs import AlreadyRunning, Ended, GoOn, Running
from exports.run.steps import Next, RetryLater, RunFailed, Stopped, Wait
from salesforce.client import TransientError

log = logging.getLogger(__name__)


class RetryOptions(TypedDict):
    """The retry options of `shared_task` that RETRY sets."""

    autoretry_for: tuple[type[Exception], ...]
    retry_backoff: int
    retry_backoff_max: int
    retry_jitter: bool
    max_retries: int


# Transient: Salesforce's, a batch cut by the soft time limit, a database restarting.
RETRY: RetryOptions = {
    "autoretry_for": (TransientError, SoftTimeLimitExceeded, OperationalError, InterfaceError),
    "retry_backoff": settings.CRMSYNC_RETRY_BACKOFF_S,
    "retry_backoff_max": settings.CRMSYNC_RETRY_BACKOFF_MAX_S,
    "retry_jitter": True,
    "max_retries": settings.CRMSYNC_MAX_RETRIES,
}


@task_postrun.connect
def close_failed_connections(**_: Any) -> None:
    """Workers keep their database connection between tasks (CELERY_DB_REUSE_MAX): after
    a task whose queries failed, close a connection that no longer works, so the retry
    opens a new one instead of failing on the dead one until the reuse count runs out."""
    for connection in connections.all(initialized_only=True):
        if connection.errors_occurred and not connection.is_usable():
            connection.close()


@task_postrun.connect
def free_the_org_slot(**_: Any) -> None:
    """The task's calls are over: free the org slot the HTTP thread kept between them
    (salesforce/org_slots.py), so another worker's request to that org can have it."""
    overlap.let_go_of_slots()


@shared_task(name="exports.tasks.export_due_accounts")
def export_due_accounts() -> list[int]:
    """Beat `CRMExport`: start a run for each account with records waiting (exporting,
    circuit closed, no run going on: `runs.due_account_ids`), all sent through one
    producer (one broker connection for thousands of messages), pipelined to Redis in
    batches of 1,000 (kombu's `Producer.batch`; a broker without batches sends each), the
    queue declared once: 0.63 s for 5,000 accounts (bench/README.md › Tenants)."""
    account_ids = runs.due_account_ids()
    app = run_export.app
    with app.producer_or_acquire() as producer, producer.batch(max_size=1000):
        producer.maybe_declare(app.amqp.default_queue)  # once, not once per message
        for account_id in account_ids:
            # celery-types leave out apply_async's **options (declare, argsrepr, kwargsrepr).
            run_export.apply_async(  # type: ignore[call-arg]
                (account_id,),
                SCHEDULED,
                producer=producer,
                priority=QUEUED_PRIORITY,
                declare=[],
                argsrepr=f"({account_id},)",  # what Flower shows, without Celery's saferepr
                kwargsrepr=SCHEDULED_REPR,
            )
    return account_ids


SCHEDULED = {"trigger": "schedule"}
SCHEDULED_REPR = repr(SCHEDULED)


# Who goes first on a worker (kombu's Redis transport: priority 0 is served first, then the
# queues a worker consumes in turn at each priority; crmsync.celery.links_queue): run starts
# (the tick's) and a run's further links (on the links queue) in turn, both at priority 3:
# thousands of small accounts started by one tick and a long run share the workers, and
# neither waits for all of the other's messages. A run's first link needs no turn: its
# `run_export` makes it.
QUEUED_PRIORITY = 3


def links_queue(request: Context) -> str:
    """The links queue for the run a task (its `request`) belongs to: paired with the queue
    the task came from."""
    return celery_links_queue(_queue_of(request))


def _queue_of(request: Context) -> str:
    came_from = (request.delivery_info or {}).get("routing_key")
    return str(came_from or export_batch.app.conf.task_default_queue)


@shared_task(bind=True, name="exports.tasks.run_export", throws=(RunFailed,), **RETRY)
def run_export(
    self: Task[Any, Any], account_id: int, trigger: str = "api", run_id: int | None = None
) -> dict[str, Any]:
    """Start an export run of one account and make its first link's calls (a small account's
    whole run: one task, one trip through the broker); further links follow as a chain of
    export_batch tasks on the links queue. The answer's `outcome` is the run's when the
    first link ended it, else "running". A redelivered copy of it (its worker died) goes on
    as that first link (`runs.GoOn`)."""
    started = runs.start_run(account_id, trigger, run_id, self.request.id or "")
    match started:
        case Running(after_id=after_id, cursor=cursor, crm=crm):
            ready = (cursor, crm) if cursor and crm else None
            outcome = _first_link(self, account_id, started.run_id, after_id, ready)
            return {"run_id": started.run_id, "outcome": outcome}
        case GoOn(after_id=after_id):
            outcome = _first_link(self, account_id, started.run_id, after_id)
            return {"run_id": started.run_id, "outcome": outcome}
        case Ended(outcome=outcome):
            return {"run_id": started.run_id, "outcome": outcome}
        case AlreadyRunning():
            return {"run_id": started.run_id, "outcome": "running"}


def _first_link(
    task: Task[Any, Any],
    account_id: int,
    run_id: int,
    after_id: int,
    started: tuple[ExportCursor, CRMSettings] | None = None,
) -> str:
    """The run's first link, in `run_export` (its token: this task's id, try 0); then what
    `export_batch` would do after it. A transient fault (a soft time limit included) is not
    retried as `run_export` (that would start another run): a new link goes on from the
    cursor after the backoff, once this link's claim to send is free (`failures.resume_at`).
    An unexpected error fails the run as a link's does. `started`: the cursor and settings
    the run's start read (the link reads none again)."""
    link_id = task.request.id or ""
    try:
        step = link.export_link(account_id, run_id, after_id, None, None, link_id, 0, started)
    except RETRY["autoretry_for"] as exc:
        resume = failures.resume_at(account_id, run_id, link_id, backoff_s(0))
        log.info(
            "export.run.first_link_retry account=%s run=%s goes on=%s: %r",
            started[1].account.slug if started else account_id,
            run_id,
            f"after {resume[0]} in {resume[1]:.1f} s" if resume else "no (the lease is gone)",
            exc,
        )
        if resume is not None:
            position, countdown = resume
            _retry_in_a_new_link(task, (account_id, run_id, position), {}, countdown, exc)
        return "running"
    except RunFailed:
        raise
    except Exception as exc:
        failures.fail_link(account_id, run_id, after_id, exc, 1, link_id=link_id)
        raise
    match step:
        case Next(after_id=next_after_id):
            _send_link(task, (account_id, run_id, next_after_id), {})
        case RetryLater(after_id=retry_after_id, only=retry_only, until_id=retry_until_id):
            kwargs = {"until_id": retry_until_id, "only": list(retry_only) or None}
            args = (account_id, run_id, retry_after_id)
            _retry_in_a_new_link(task, args, kwargs, backoff_s(0), None)
        case Wait(seconds=seconds):  # a copy of this task holds the claim: go on after it
            _send_link(task, (account_id, run_id, after_id), {}, seconds)
        case Stopped(outcome=outcome):
            return outcome or "running"
    return "running"


def _retry_in_a_new_link(
    task: Task[Any, Any],
    args: tuple[int, int, int],
    kwargs: dict[str, Any],
    countdown: float,
    exc: BaseException | None,
) -> None:
    """The first link's retry, as an export_batch at its first retry: said on the run and
    in the log as `export_batch`'s retries are (`ExportBatchTask.on_retry`)."""
    note = outage.retry_note(1, settings.CRMSYNC_MAX_RETRIES, countdown, exc)
    failures.note_retry(*args, note)
    _send_link(task, args, kwargs, countdown, retries=1)


def _send_link(
    task: Task[Any, Any],
    args: tuple[int, int, int],
    kwargs: dict[str, Any],
    countdown: float = 0,
    retries: int = 0,
) -> None:
    """A link of the run `task` started: an export_batch on its links queue (`retries`: the
    try it is, as Celery counts a retry's)."""
    signature = export_batch.signature(
        args, kwargs, queue=links_queue(task.request), priority=QUEUED_PRIORITY
    )
    if countdown > 0:  # (no ETA for "now")
        signature.set(countdown=countdown)
    if retries:  # (Celery's send_task takes it; celery-types' Signature.set does not)
        signature.set(retries=retries)  # type: ignore[call-arg]
    signature.apply_async()


def _link_call(args: Any, kwargs: Any) -> dict[str, Any]:
    return dict(zip(("account_id", "run_id", "after_id"), args, strict=False)) | kwargs


class ExportBatchTask(Task):
    # Expected ends of a link (the run failed, retries ran out): the task state is FAILURE
    # (Flower lists it) but the worker logs no traceback; `export.run` says why, at WARNING.
    throws = (RunFailed, MaxRetriesExceededError, *RETRY["autoretry_for"])

    def on_retry(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """A call is retried: "retry 3/6 in 15 s: connection refused" on the run and in the log."""
        # celery.exceptions.Retry's `when`: the countdown (billiard wraps the exception)
        retry = getattr(einfo.exception, "exc", einfo.exception)
        when = getattr(retry, "when", None)
        countdown = when if isinstance(when, int | float) else 0
        note = outage.retry_note(self.request.retries + 1, self.max_retries, countdown, exc)
        call = _link_call(args, kwargs)
        failures.note_retry(call.get("account_id"), call.get("run_id"), call.get("after_id"), note)

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Retries exhausted or an unexpected error: end the run `failed` (if this link was
        the run's current one), so its lease is released and the failure is on record."""
        if isinstance(exc, RunFailed):
            return  # the link ended the run itself
        call = _link_call(args, kwargs)
        failures.fail_link(
            call.get("account_id"),
            call.get("run_id"),
            call.get("after_id"),
            exc,
            self.request.retries + 1,
            link_id=task_id,
        )


@shared_task(bind=True, base=ExportBatchTask, name="exports.tasks.export_batch", **RETRY)
def export_batch(
    self: ExportBatchTask,
    account_id: int,
    run_id: int,
    after_id: int,
    until_id: int | None = None,
    only: list[int] | None = None,
) -> None:
    """One link of a run's chain: calls for up to CRMSYNC_LINK_SECONDS. Safe to run twice,
    also while the original runs: a link sends only while it holds its account's claim to
    send (exports/run/claim.py); a stale or duplicate link sends nothing and moves nothing; this
    link retried, or redelivered once its worker is gone, goes on from the cursor.

    The next link is appended to this task's chain when it returns, so chain messages
    stay one signature long however many links a run has. A copy of the link that holds
    the claim (same task id) may be its redelivery after its worker died: it comes back
    (same id, same try) once the claim has expired, and goes on or finds itself stale.
    """
    request = self.request
    link_id = request.id or ""  # a task's id; None only for a task called as a function
    step = link.export_link(
        account_id, run_id, after_id, until_id, only, link_id, request.retries or 0
    )
    match step:
        case Next(after_id=next_after_id):
            next_link = export_batch.si(account_id, run_id, next_after_id)
            next_link.set(queue=links_queue(self.request), priority=QUEUED_PRIORITY)
            # Context.chain is a list of signatures (celery-types: str | None).
            self.request.chain = [*(self.request.chain or []), next_link]  # type: ignore[assignment]
        case RetryLater(after_id=retry_after_id, only=retry_only, until_id=retry_until_id):
            raise self.retry(
                args=[account_id, run_id, retry_after_id],  # type: ignore[arg-type]  # celery takes a list or tuple; celery-types: tuple
                kwargs={"until_id": retry_until_id, "only": list(retry_only) or None},
                countdown=backoff_s(self.request.retries),
            )
        case Wait(seconds=seconds):
            self.signature_from_request(request, countdown=seconds).apply_async()
            self.request.chain = None  # the copy sent carries the chain
        case Stopped():
            pass


def backoff_s(retries: int) -> float:
    """Seconds before a link's retry number `retries` + 1: exponential from
    CRMSYNC_RETRY_BACKOFF_S, at most CRMSYNC_RETRY_BACKOFF_MAX_S, with full jitter (as
    Celery's `retry_backoff` computes it for the transient faults of `RETRY`)."""
    return get_exponential_backoff_interval(
        settings.CRMSYNC_RETRY_BACKOFF_S,
        retries,
        settings.CRMSYNC_RETRY_BACKOFF_MAX_S,
        full_jitter=True,
    )


@shared_task(name="exports.tasks.reexport_errors", **RETRY)
def reexport_errors(account_id: int | None = None) -> dict[str, int]:
    """Beat `CRMExport_ExportError` (daily): re-export every open ExportError."""
    return reexport.reexport_errors(account_id).as_dict()


@shared_task(name="exports.tasks.reexport_error", **RETRY)
def reexport_error(error_id: int) -> dict[str, int]:
    """Re-export one ExportError (admin action, Flower)."""
    return reexport.reexport_error(error_id).as_dict()


@shared_task(bind=True, name="exports.tasks.send_notification")
def send_notification(self: Task[Any, Any], notification_id: str) -> str:
    """Send one alert (an email or a webhook) of a Notification row. A transient failure
    is retried with exponential backoff (CRMSYNC_ALERT_RETRY_BACKOFF_S, read when retrying,
    so a change applies without a restart) up to CRMSYNC_ALERT_MAX_RETRIES times; the run
    that raised the alert never waits for it."""
    retries, most = self.request.retries, settings.CRMSYNC_ALERT_MAX_RETRIES
    try:
        return notify.deliver(notification_id, last_try=retries >= most)
    except notify.DeliveryRetry as exc:
        raise self.retry(exc=exc, countdown=notify.backoff_s(retries), max_retries=most) from None


@shared_task(name="exports.tasks.check_alerts", **RETRY)
def check_alerts() -> dict[str, int]:
    """Beat `CRMExport_Alerts` (every 10 minutes): still-paused reminders and error spikes
    that are over; alerts whose task was lost are sent; finished runs are rolled up for
    /metrics (so a scrape reads few rows)."""
    return {
        "accounts": alerts.check_all(),
        "resent": notify.send_stuck(),
        "runs_rolled_up": run_totals.roll_up(),
    }


@shared_task(name="exports.tasks.prune", **RETRY)
def prune() -> dict[str, int]:
    """Beat `CRMExport_Prune` (daily 04:00 UTC): `crm_prune`, deleting what no run needs."""
    return retention.prune().as_dict()
