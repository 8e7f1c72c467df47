"""Pause on: the run stops at the first rejected record and stays there until it passes."""

from __future__ import annotations

import pytest

from exports.models import ExportCursor, ExportError, ExportRun
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue, written_external_ids

pytestmark = pytest.mark.integration


def test_pause_on_halts_at_437_retries_it_and_resumes_in_order(sandbox, celery_worker, crm_account):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(pause=True)
    ids = enqueue(account, contacts(1000, **{"person-437": {"Type__c": "Customer"}}))
    bad_id = ids[436]

    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)

    assert run.outcome == ExportRun.Outcome.PAUSED
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 437)]
    cursor = ExportCursor.objects.get(account=account)
    assert (cursor.state, cursor.paused_record_id, cursor.last_exported_id) == (
        ExportCursor.State.PAUSED,
        bad_id,
        ids[435],
    )
    assert cursor.last_error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    error = ExportError.objects.get(account=account)
    assert (error.record_id, error.status, error.attempts) == (bad_id, "open", 1)
    assert error.message == "Customers need an email"

    writes_before = len(sandbox.writes())
    for _ in range(3):
        again = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)
        assert again.outcome == ExportRun.Outcome.PAUSED
    assert len(sandbox.writes()) == writes_before
    error = ExportError.objects.get(account=account)
    assert (error.status, error.attempts) == ("open", 4)

    sandbox.set_rules({})
    resumed = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)

    assert resumed.outcome == ExportRun.Outcome.COMPLETED
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 1001)]
    error.refresh_from_db()
    assert error.status == ExportError.Status.RESOLVED
    cursor.refresh_from_db()
    assert (cursor.state, cursor.paused_record_id, cursor.last_exported_id) == (
        ExportCursor.State.IDLE,
        None,
        ids[-1],
    )
    assert resumed.exported == 1000 - 436
