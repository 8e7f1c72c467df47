"""The task's soft time limit cuts a call stalled at the org wherever the call stands — the
first call of a run, a later call, a call sent before the previous call's cursor move
committed (the worker's thread waits on the HTTP thread's Future), the daily re-export's
request — within the soft limit (at most the request timeout later), never hanging until
the hard limit; and what it cut is not sent again while the stalled request can still land:
the link keeps its claim to send, the re-export its lease, until that request has ended.

Timings: soft limit (4 s) < stall (9 s) < request timeout (10 s) < a link's claim to send
(15 s: the timeout + 1 + a 4 s margin) < hard limit (30 s) < visibility timeout (40 s) <
run lease (50 s). Only the soft limit can cut the stalled request, and the org applies it
when the stall ends, while the client still waits (no request lands after its client gave
up). Two worker hosts: the cut link's retry is taken by the other one, whose HTTP thread is
free, while the first one's stalled request is still in flight; each workload writes every
external id several times, so a stalled older write that lands after a newer one shows in
the write log.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from exports.models import ExportCursor, ExportError, ExportRun
from tests.chaos.checks import check_export, export_done, tokens, workload
from tests.chaos.conftest import poll_for
from tests.conftest import lock_waiters, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

SOFT_S, STALL_S, TIMEOUT_S, HARD_S = 4, 9, 10, 30
WORKER_ENV = {
    "CELERY_TASK_SOFT_TIME_LIMIT": str(SOFT_S),
    "CELERY_TASK_TIME_LIMIT": str(HARD_S),
    "CRMSYNC_VISIBILITY_TIMEOUT_S": "40",
    "CRMSYNC_RUN_LEASE_S": "50",
    # A call goes out before the previous one's commit only with half the margin left to
    # send under the claim: 2 s here, well beyond the first answer (login, describe, call).
    "CRMSYNC_CLAIM_MARGIN_S": "4",
    "CRMSYNC_MAX_RETRIES": "30",  # a re-export retried while its cut run's lease cools down
}
CUT = "SoftTimeLimitExceeded"


def stall_one_request(sandbox, after: int) -> None:
    """The org answers every data request in 100 ms, except the one after `after` more
    (the describe is one), which it holds STALL_S first."""
    sandbox.set_faults(latency_ms=100, stall_after=after, stall_next=1, stall_ms=STALL_S * 1000)


def stall_taken(sandbox) -> float:
    """Wait until the stalled request has arrived at the org; when it did (monotonic)."""
    wait_for(lambda: sandbox.rules()["faults"]["stall_next"] == 0, 60, 0.02, "the stall")
    return time.monotonic()


def cuts(workers) -> list[str]:
    """The log lines of tasks the soft limit cut (retried or failed), in every worker."""
    return [line for w in workers for line in w.log().splitlines() if CUT in line and "]" in line]


def first_cut(workers, stalled_at: float) -> float:
    """Seconds from the stall's arrival to the first task cut by the soft time limit."""
    wait_for(lambda: cuts(workers), SOFT_S + TIMEOUT_S + 5, 0.05, "a task cut by the soft limit")
    return time.monotonic() - stalled_at


HUNG = re.compile(r"Hard time limit|(?<!Soft)TimeLimitExceeded|WorkerLostError")


def assert_never_hung(chaos) -> None:
    logs = "\n".join(p.log() for p in chaos.processes)
    assert not HUNG.search(logs), chaos.logs()


def run_with_one_stalled_call(chaos, chaos_account, sandbox, slug, items, stall_after, **crm):
    account = chaos_account(slug, items, pause=True, timeout_seconds=TIMEOUT_S, **crm)
    stall_one_request(sandbox, stall_after)
    workers = [chaos.worker(**WORKER_ENV), chaos.worker(**WORKER_ENV)]
    chaos.send("exports.tasks.run_export", account.id, "api")
    stalled_at = stall_taken(sandbox)

    cut_after = first_cut(workers, stalled_at)
    wait_for(lambda: export_done(account), 90, 0.3, "the run's end")
    poll_for(max(stalled_at + STALL_S + 1 - time.monotonic(), 0))  # the stalled request lands

    assert cut_after <= SOFT_S + TIMEOUT_S, (cut_after, chaos.logs())
    assert_never_hung(chaos)
    run = ExportRun.objects.get(account=account, trigger="api")
    assert run.outcome == "completed" and run.exported == len(items), run.message
    chaos.assert_export_clean(f"soft time limit, {slug}", account, set())


def test_the_first_call_of_a_run(chaos, chaos_account, sandbox):
    # Calls of 100 records (2 batches of 50: a call never repeats a key), 6 versions of each
    # key; the describe goes first, the first call stalls.
    items = workload("cut-first", 600, 100)
    run_with_one_stalled_call(chaos, chaos_account, sandbox, "cut-first", items, 1, batch_size=50)


def test_a_later_call_after_one_went_through(chaos, chaos_account, sandbox):
    # Each call writes the keys the one before it wrote: the second goes out after the
    # first call's cursor move, and stalls.
    items = workload("cut-later", 600, 100)
    run_with_one_stalled_call(chaos, chaos_account, sandbox, "cut-later", items, 2, batch_size=50)


def test_a_call_sent_before_the_previous_one_committed(chaos, chaos_account, sandbox):
    # Calls of 100 records over 200 keys: consecutive calls share no key, so the second
    # (read ahead while the first was in flight) goes out before the first one's cursor move
    # commits, and stalls; the link's thread then waits on its Future.
    items = workload("cut-ahead", 600, 200)
    run_with_one_stalled_call(chaos, chaos_account, sandbox, "cut-ahead", items, 2, batch_size=20)


def test_the_wait_for_a_call_the_link_will_not_use(chaos, chaos_account, sandbox):
    # As above, the second call goes out before the first one's cursor move and stalls.
    # That move fails (a deadlock with this test's transaction), so the link waits for the
    # stalled call it will not use (`overlap.drain`); the soft limit lands in that wait and
    # must cut it, not be taken for the call's own failure.
    items = workload("cut-drain", 600, 200)
    account = chaos_account(
        "cut-drain", items, pause=True, timeout_seconds=TIMEOUT_S, batch_size=20
    )
    sandbox.set_faults(latency_ms=150, stall_after=2, stall_next=1, stall_ms=STALL_S * 1000)
    workers = [chaos.worker(**WORKER_ENV), chaos.worker(**WORKER_ENV)]
    chaos.send("exports.tasks.run_export", account.id, "api")
    claimed = ExportCursor.objects.filter(account=account, claim_expires_at__isnull=False)
    wait_for(claimed.exists, 30, 0.02, "the first link's claim to send")
    with transaction.atomic():
        with connection.cursor() as cursor:  # the link's move is the one to give way
            cursor.execute("SET LOCAL deadlock_timeout = '30s'")
        ExportRun.objects.select_for_update().get(account=account)  # the move waits for it
        wait_for(lambda: lock_waiters() >= 1, 30, 0.02, "the first cursor move waiting")
        stalled_at = stall_taken(sandbox)
        claimed.update(records_per_call=None)  # a deadlock: the link's move fails
        transaction.set_rollback(True)

    cut_after = first_cut(workers, stalled_at)
    wait_for(lambda: export_done(account), 90, 0.3, "the run's end")
    poll_for(max(stalled_at + STALL_S + 1 - time.monotonic(), 0))

    assert cut_after <= SOFT_S + TIMEOUT_S, (cut_after, chaos.logs())
    assert_never_hung(chaos)
    chaos.assert_export_clean("soft time limit, cut-drain", account, set())


def open_errors(account) -> int:
    return ExportError.objects.filter(account=account, status="open").count()


def test_the_daily_reexport(chaos, chaos_account, sandbox):
    reject = {5, 17, 33}
    account = chaos_account(
        "cut-rex", workload("cut-rex", 60, 60, reject), pause=False, timeout_seconds=TIMEOUT_S
    )
    sandbox.set_faults(latency_ms=100)
    workers = [chaos.worker(**WORKER_ENV), chaos.worker(**WORKER_ENV)]
    chaos.send("exports.tasks.run_export", account.id, "api")
    wait_for(lambda: export_done(account) and open_errors(account) == 3, 60, 0.3, "3 errors")
    sandbox.set_rules({})  # the admin fixed the org's rule
    stall_one_request(sandbox, 0)  # the describe is in the shared cache: the upsert stalls

    chaos.send("exports.tasks.reexport_errors", account.id)
    stalled_at, lands_at = stall_taken(sandbox), time.time() + STALL_S
    cut_after = first_cut(workers, stalled_at)
    chaos.send("exports.tasks.run_export", account.id, "api")  # a run while it is in flight
    wait_for(lambda: not open_errors(account), 90, 0.3, "every error resolved")
    poll_for(max(lands_at + 1 - time.time(), 0))

    assert cut_after <= SOFT_S + TIMEOUT_S, (cut_after, chaos.logs())
    assert_never_hung(chaos)
    cut_run = ExportRun.objects.filter(account=account, trigger="reexport").order_by("id").first()
    assert cut_run.outcome == "failed" and "soft time limit" in cut_run.message, cut_run.message
    assert (cut_run.finished_at - cut_run.started_at).total_seconds() <= SOFT_S + TIMEOUT_S
    # Until the stalled request has landed, the account's lease stays with the cut run: the
    # run sent meanwhile, and the re-export's first retries, find it held.
    meanwhile = ExportRun.objects.filter(
        account=account, id__gt=cut_run.id, started_at__lt=datetime.fromtimestamp(lands_at, UTC)
    )
    assert meanwhile.exists() and {r.outcome for r in meanwhile} == {"skipped_locked"}
    report = check_export(
        "soft time limit, re-export",
        sandbox.writes(),
        account,
        tokens("cut-rex", reject),
        reexported=True,
    )
    report.assert_clean()
