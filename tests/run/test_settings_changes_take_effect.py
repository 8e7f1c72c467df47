"""Settings changes take effect at the next run (docs/semantics.md)."""

from __future__ import annotations

import pytest

from accounts.models import CRMSettings
from exports.models import ExportCursor, ExportError, ExportRun
from exports.run.reexport import reexport_errors
from exports.tasks import export_due_accounts
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue, written_external_ids

pytestmark = pytest.mark.integration


def test_pause_turned_off_while_paused_logs_the_parked_record_and_goes_on(
    sandbox, celery_worker, crm_account
):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(pause=True)
    ids = enqueue(account, contacts(300, **{"person-250": {"Type__c": "Customer"}}))
    assert run_and_wait(account, timeout=60).outcome == ExportRun.Outcome.PAUSED

    CRMSettings.objects.filter(account=account).update(pause_on_export_errors=False)
    run = run_and_wait(account, timeout=60)

    assert run.outcome == ExportRun.Outcome.COMPLETED
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 301) if i != 250]
    error = ExportError.objects.get(account=account)
    assert (error.record_id, error.status, error.attempts) == (ids[249], "open", 2)
    cursor = ExportCursor.objects.get(account=account)
    assert (cursor.state, cursor.paused_record_id, cursor.last_exported_id) == (
        "idle",
        None,
        ids[-1],
    )


def test_pause_turned_on_parks_at_the_next_rejection(sandbox, celery_worker, crm_account):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(pause=False)
    enqueue(account, contacts(10, **{"person-3": {"Type__c": "Customer"}}))
    assert run_and_wait(account, timeout=60).outcome == ExportRun.Outcome.COMPLETED

    CRMSettings.objects.filter(account=account).update(pause_on_export_errors=True)
    ids = enqueue(account, contacts(10, start=11, **{"person-15": {"Type__c": "Customer"}}))
    run = run_and_wait(account, timeout=60)

    assert run.outcome == ExportRun.Outcome.PAUSED
    assert ExportCursor.objects.get(account=account).paused_record_id == ids[4]
    assert "person-16" not in written_external_ids(sandbox)


def test_export_turned_off_means_no_runs_and_no_reexports(sandbox, celery_worker, crm_account):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(pause=True)
    enqueue(account, contacts(10, **{"person-3": {"Type__c": "Customer"}}))
    run_and_wait(account, timeout=60)
    cursor_before = ExportCursor.objects.values().get(account=account)
    CRMSettings.objects.filter(account=account).update(export_enabled=False)
    sandbox.set_rules({})

    assert export_due_accounts() == []
    run = run_and_wait(account, timeout=60)
    summary = reexport_errors()

    assert run.outcome == ExportRun.Outcome.NOTHING_TO_DO
    assert "Export to CRM is off" in run.message
    assert summary.resolved == 0
    assert ExportError.objects.get(account=account).status == "open"
    cursor_after = ExportCursor.objects.values().get(account=account)
    assert {k: cursor_after[k] for k in ("last_exported_id", "state", "paused_record_id")} == {
        k: cursor_before[k] for k in ("last_exported_id", "state", "paused_record_id")
    }
