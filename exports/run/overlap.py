"""Overlap: the worker's own work hides behind calls in flight.

An optimisation in its own room; the link (`exports.run.link`) reads as "send, answer, apply"
without it. Three pieces:

1. The HTTP thread: one per task thread (per process under the prefork pool), it sends a
   call (and logs in ahead of a run's first call) while the task's thread reads the
   database. It holds no database connection.
2. Read-ahead: while a call is in flight, the next call's records are read and batched.
3. Send-before-commit: when a call went through whole and the next call writes none of
   its records, the next call goes out before this one's cursor move commits
   (`decisions.may_send_before_commit`).

A call the link will not use is drained: waited for, its API requests counted, its cursor
move never committed, so whoever goes on from the cursor sends its records again. When the
task's soft time limit cut the link, it is left instead (`leave`): nothing waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from accounts.models import CRMSettings
from exports.models import ExportRun
from exports.run import call as calls
from exports.run import decisions, payload
from exports.run.call import Answer, Call, CallPlan
from exports.run.decisions import CallSize
from exports.run.payload import Row
from salesforce import org_slots
from salesforce.client import Gateway
from salesforce.reuse import reusable_gateway
from salesforce.wire import Batch

log = logging.getLogger("exports.pipeline")  # the export's log stream (docs/operations.md › Logs)

# Each task thread's own HTTP thread: one per process under the prefork pool, one per
# pool thread under the threads pool (so tasks in flight in one process never queue
# behind each other's calls).
_task_thread = threading.local()


def http() -> ThreadPoolExecutor:
    """The thread that sends this task thread's calls while it reads the next records. It
    only talks HTTP (no database connection of its own)."""
    pool: ThreadPoolExecutor | None = getattr(_task_thread, "http", None)
    if pool is None:
        pool = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="crmsync-call",
            initializer=org_slots.keep_slots_in_this_thread,  # a link's calls: one slot
        )
        _task_thread.http = pool
    return pool


def let_go_of_slots() -> None:
    """A task ended: the HTTP thread frees the org slot it kept for the task's calls
    (after any call still queued; nothing waits for it)."""
    pool: ThreadPoolExecutor | None = getattr(_task_thread, "http", None)
    if pool is not None:
        pool.submit(org_slots.let_go)


def log_in_ahead(crm: CRMSettings) -> None:
    """The next call needs a token: in a fresh worker, logging in (and the TLS handshake)
    would hold it up by about as long as a call takes. Log in now, in the HTTP thread,
    while this thread hands over to the first link and reads its records. Nothing to do
    when this worker is logged in already."""
    http().submit(reusable_gateway(crm).log_in_ahead)


def send_call(plan: CallPlan) -> Call:
    """Hand a call to the HTTP thread; its answer comes as `Call.answer`."""
    crm, rows, batches, per_batch = plan.crm, plan.rows, plan.batches, plan.size.per_batch
    gateway = reusable_gateway(crm)  # the HTTPS connection stays open between calls
    if any(row.key.delete for row in rows):  # deletions travel by Salesforce Id
        rows = payload.with_ids(crm.account_id, rows)
        batches = payload.batches_of(rows, per_batch)
    if crm.version_field:
        rows = payload.with_version(rows, crm.version_field)
        batches = payload.batches_of(rows, per_batch)
    pause_on = crm.pause_on_export_errors
    out = threading.Event()
    answer = http().submit(
        _send, out, gateway, rows, batches, pause_on, per_batch, plan.send_by, crm.version_field
    )
    # Let the request go out before this thread works beside it: the two threads would
    # share the interpreter while the HTTP thread checks the records and writes the request
    # (not longer than GOES_OUT_S: it may wait for an org slot or a login).
    out.wait(GOES_OUT_S)
    return Call(crm, plan.after_id, plan.until_id, plan.only, rows, gateway, answer, plan.last)


GOES_OUT_S = 0.02


def _send(out: threading.Event, gateway: Gateway, *args: Any) -> Answer:
    """`calls.send` in the HTTP thread; `out` is set once its first request goes out (or
    it ended without one)."""
    gateway.going_out = out
    try:
        return calls.send(gateway, *args)
    finally:
        gateway.going_out = None
        out.set()


@dataclass(frozen=True)
class Ahead:
    """The call after `after_id`, prepared while the call before it was in flight: its rows
    and batches for batches of `size`, and whether it writes a record that call wrote."""

    after_id: int
    size: CallSize  # the call size it was cut for
    rows: list[Row]
    batches: list[Batch]
    shared: bool
    last: bool  # no record after these when read (none at all: the run is done)

    def plan(self, crm: CRMSettings, send_by: float) -> CallPlan:
        """The call it prepared, ready to go out."""
        return CallPlan(crm, self.after_id, self.rows, self.batches, self.size, send_by, self.last)


def read_ahead(call: Call, size: CallSize, budget: int) -> Ahead | None:
    """The call after `call`, prepared, if `call` goes through whole (`budget`: the records
    the run may send after it); None when there is no budget left or the read fails (the
    next call reads for itself)."""
    end = call.rows[-1].key.id
    limit = min(size.records, budget)
    if limit <= 0:
        return None
    try:
        rows = payload.load_rows(call.crm.account_id, end, None, None, limit)
    except DatabaseError:
        log.debug("read-ahead after %s failed; the next call reads for itself", end, exc_info=True)
        return None
    rows, batches, last = payload.plan_call(rows, size.per_batch, limit)
    shared = decisions.share_records([r.key for r in call.rows], [r.key for r in rows])
    return Ahead(end, size, rows, batches, shared, last)


def ready(ahead: Ahead | None, after_id: int, size: CallSize, budget: int) -> bool:
    """Is `ahead` the next call after `after_id` as the settings and the adapted call size
    now cut it?"""
    return (
        ahead is not None
        and bool(ahead.rows)
        and ahead.after_id == after_id
        and ahead.size == size
        and len(ahead.rows) <= budget
    )


def none_left(ahead: Ahead | None, after_id: int) -> bool:
    """Did the read-ahead find no record after `after_id`? (Then the run is done: a record
    enqueued since is after the cursor and waits for the next run.)"""
    return ahead is not None and ahead.after_id == after_id and not ahead.rows and ahead.last


def follow(
    call: Call,
    answer: Answer,
    crm: CRMSettings,
    ahead: Ahead | None,
    size: CallSize,
    budget: int,
    send_by: float,
) -> Call | None:
    """Send the next call before `call`'s cursor move is committed, if that is safe: it
    went through whole, the run goes on, the next call writes none of its records, and the
    claim to send leaves it time (`send_by`, monotonic)."""
    end = call.rows[-1].key.id
    if ahead is None or not ready(ahead, end, size, budget):
        return None
    if not decisions.may_send_before_commit(answer.decision, end, ahead.shared):
        return None
    if not crm.exporting or answer.near_api_limit(crm):
        return None
    if send_by - time.monotonic() <= settings.CRMSYNC_CLAIM_MARGIN_S / 2:
        return None  # the link renews its claim to send first (`link._keep_claim`)
    return send_call(ahead.plan(crm, send_by))


def drain(run_id: int, call: Call) -> None:
    """Wait for a call whose answer the link will not use (it stopped, or failed while the
    call was in flight). Its cursor move is not committed: whoever goes on from the cursor
    sends its records again, as after a lost answer, and only after this call is done.
    Only the call's own failure is taken here (`Future.exception`): what interrupts the
    wait itself (the task's soft time limit) is not, and propagates."""
    failure = call.answer.exception()  # waits
    if failure is None:
        api_calls = call.answer.result().api_calls
    else:
        log.debug("a call the link stopped without failed too: %r", failure)
        api_calls = call.gateway.api_calls
    try:
        ExportRun.objects.filter(id=run_id).add_api_calls(api_calls)
    except DatabaseError:
        log.warning("export.batch.uncounted run=%s api_calls=%s", run_id, api_calls)


def leave(call: Call) -> None:
    """The task's time is up and `call` is not answered: wait for nothing. Not started yet
    (queued in the HTTP thread) → it never will be. Started → none of its further writes
    goes out (they check `send_by`), and the one in flight ends by itself, answered or
    timed out, before the link's claim to send expires (the link keeps it for that)."""
    if not call.answer.cancel():
        call.gateway.send_by = float("-inf")
