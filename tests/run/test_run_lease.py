"""One run per account at a time: a second run while one holds the lease is skipped."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from exports.models import ExportCursor, ExportRun
from exports.run import failures, runs, steps
from exports.tasks import run_export
from tests.conftest import wait_for
from tests.pipeline_fixtures import contacts, enqueue, export_one_call, written_external_ids

pytestmark = pytest.mark.integration


@pytest.mark.concurrency
def test_two_run_export_calls_at_once_one_runs_one_is_skipped(
    sandbox, celery_worker, crm_account, settings
):
    # Short links of small calls: the first run_export's own link leaves the run going on
    # (its next links follow on the links queue, served in turn with the second start).
    settings.CRMSYNC_LINK_SECONDS = 0.05
    settings.CRMSYNC_ADAPTIVE_CALLS = False
    account = crm_account(batch_size=10)
    enqueue(account, contacts(600))

    for _ in range(2):
        run_export.delay(account.id, trigger="api")

    def two_runs_finished():
        ended = list(ExportRun.objects.filter(account=account).exclude(outcome=""))
        return ended if len(ended) == 2 else None

    finished = wait_for(two_runs_finished, timeout=60)
    assert sorted(r.outcome for r in finished) == ["completed", "skipped_locked"]
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 601)]


def outcome_of(start: runs.RunStart) -> str:
    return "running" if isinstance(start, runs.Running) else start.outcome


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_take_the_lease_once(crm_account):
    account = crm_account()
    enqueue(account, contacts(5))
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def start() -> None:
        barrier.wait()
        try:
            outcomes.append(outcome_of(runs.start_run(account.id, "api")))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["running", "skipped_locked", "skipped_locked", "skipped_locked"]


@pytest.mark.django_db
def test_an_expired_lease_is_taken_over_and_its_run_marked_failed(crm_account):
    account = crm_account()
    enqueue(account, contacts(2))
    first = runs.start_run(account.id, "api")
    ExportCursor.objects.filter(account=account).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    second = runs.start_run(account.id, "api")

    assert isinstance(second, runs.Running)
    assert ExportCursor.objects.get(account=account).run_id == second.run_id
    lost = ExportRun.objects.get(id=first.run_id)
    assert lost.outcome == ExportRun.Outcome.FAILED
    assert "lease expired" in lost.message


@pytest.mark.django_db
def test_a_stale_link_does_nothing(crm_account):
    account = crm_account()
    enqueue(account, contacts(3))
    started = runs.start_run(account.id, "api")

    step = export_one_call(account.id, started.run_id, after_id=started.after_id + 999)

    assert step == steps.Stopped(steps.STALE)
    assert ExportCursor.objects.get(account=account).last_exported_id == started.after_id


@pytest.mark.django_db
def test_a_run_export_of_a_live_run_keeps_its_lease_and_starts_no_second_chain(crm_account):
    account = crm_account()
    enqueue(account, contacts(2))
    run = ExportRun.objects.create(account=account, trigger="manual")

    first = runs.start_run(account.id, "manual", run.id)
    # The message came back, or was requeued from Flower with the live run's id.
    again = runs.start_run(account.id, "api", run.id)

    assert isinstance(first, runs.Running)
    assert again == runs.AlreadyRunning(run.id)  # no first link sent
    assert ExportCursor.objects.get(account=account).run_id == run.id
    assert ExportRun.objects.get(id=run.id).outcome == ""  # it goes on


@pytest.mark.django_db
def test_a_redelivered_run_export_goes_on_as_its_runs_first_link(crm_account):
    account = crm_account()
    enqueue(account, contacts(2))
    first = runs.start_run(account.id, "schedule", None, "task-1")
    assert isinstance(first, runs.Running)
    # Its first link took the claim to send (its token: the task's id), then the worker died.
    ExportCursor.objects.filter(account=account).update(link_id="task-1")

    again = runs.start_run(account.id, "schedule", None, "task-1")  # the same message, again
    other = runs.start_run(account.id, "schedule", None, "task-2")  # another task

    assert again == runs.GoOn(first.run_id, first.after_id)
    assert isinstance(other, runs.Ended) and other.outcome == "skipped_locked"
    # No run row of its own for the copy; the run goes on under its lease.
    assert list(
        ExportRun.objects.filter(account=account).order_by("id").values_list("id", "outcome")
    ) == [
        (first.run_id, ""),
        (other.run_id, "skipped_locked"),
    ]
    assert ExportCursor.objects.get(account=account).run_id == first.run_id


@pytest.mark.django_db
def test_a_failed_stale_link_does_not_fail_the_run(crm_account):
    account = crm_account()
    enqueue(account, contacts(2))
    started = runs.start_run(account.id, "api")

    boom = RuntimeError("boom")
    failures.fail_link(account.id, started.run_id, started.after_id + 1, boom, 7)
    assert ExportRun.objects.get(id=started.run_id).outcome == ""

    failures.fail_link(account.id, started.run_id, started.after_id, boom, 7)
    run = ExportRun.objects.get(id=started.run_id)
    assert run.outcome == "failed"
    assert run.message.startswith("A call failed (RuntimeError: boom) 7 times in a row")
    assert ExportCursor.objects.get(account=account).run_id is None
