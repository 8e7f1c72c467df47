"""A run's first link is made by its `run_export`: a small account's run is one Celery task.
A transient fault there is not retried as `run_export` (that would start another run): a
new `export_batch` link goes on from the cursor after the backoff, at its first retry, once
the first link's claim to send is free (`failures.resume_at`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery.signals import task_prerun
from django.utils import timezone

from exports.models import ExportCursor, ExportError, ExportRun
from exports.run import failures, fence
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import contacts, enqueue, written_external_ids

pytestmark = pytest.mark.integration


@pytest.fixture
def tasks_run() -> Any:
    """(task name, its try) of every task the in-process worker starts from now on."""
    seen: list[tuple[str, int]] = []

    def note(task: Any = None, **_: Any) -> None:
        seen.append((task.name, task.request.retries or 0))

    task_prerun.connect(note, weak=False)
    yield seen
    task_prerun.disconnect(note)


def test_a_small_run_is_one_task(sandbox, celery_worker, crm_account, tasks_run):
    account = crm_account()
    enqueue(account, contacts(50))

    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)

    assert run.outcome == ExportRun.Outcome.COMPLETED
    assert tasks_run == [("exports.tasks.run_export", 0)]
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 51)]


def test_a_long_run_goes_on_in_export_batch_links(
    sandbox, celery_worker, crm_account, tasks_run, settings
):
    # A link hands over after its first call (any HTTPS call takes more than 1 ms): at 0.05 s
    # a fast machine made all 12 calls in the first link.
    settings.CRMSYNC_LINK_SECONDS = 0.001
    settings.CRMSYNC_ADAPTIVE_CALLS = False
    account = crm_account(batch_size=10)
    enqueue(account, contacts(600))

    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=90)

    assert run.outcome == ExportRun.Outcome.COMPLETED
    names = [name for name, _ in tasks_run]
    assert names[0] == "exports.tasks.run_export"
    assert names.count("exports.tasks.run_export") == 1
    assert names.count("exports.tasks.export_batch") >= 1
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 601)]


def test_a_transient_fault_on_the_first_call_goes_on_in_a_new_link(
    sandbox, celery_worker, crm_account, tasks_run, settings
):
    settings.CRMSYNC_RETRY_BACKOFF_S = 0
    account = crm_account(timeout_seconds=1.0)
    enqueue(account, contacts(50))
    sandbox.set_faults(fail_next=1, fail_status=503)

    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)

    assert run.outcome == ExportRun.Outcome.COMPLETED
    assert ExportRun.objects.filter(account=account).count() == 1  # not a second run
    assert tasks_run == [("exports.tasks.run_export", 0), ("exports.tasks.export_batch", 1)]
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 51)]
    assert not ExportError.objects.exists()


@pytest.mark.django_db
def test_resume_at_waits_for_the_failed_links_kept_claim(crm_account):
    account = crm_account()
    run = ExportRun.objects.create(account=account, trigger="api")
    expires = timezone.now() + timedelta(seconds=20)
    ExportCursor.objects.create(
        account=account,
        run_id=run.id,
        last_exported_id=7,
        link_id="first",
        claim_expires_at=expires,
    )

    position, seconds = failures.resume_at(account.id, run.id, "first", backoff_s=2.0)
    assert position == 7
    assert 19 + fence.SAFETY_S <= seconds <= 20 + fence.SAFETY_S

    # Another link's claim, or none: the backoff alone.
    assert failures.resume_at(account.id, run.id, "other", backoff_s=2.0) == (7, 2.0)
    ExportCursor.objects.filter(account=account).update(claim_expires_at=None)
    assert failures.resume_at(account.id, run.id, "first", backoff_s=2.0) == (7, 2.0)

    # The run holds the lease no more: nothing goes on.
    ExportCursor.objects.filter(account=account).update(run_id=None)
    assert failures.resume_at(account.id, run.id, "first", backoff_s=2.0) is None
