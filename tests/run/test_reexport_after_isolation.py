"""The daily re-export narrows a chunk-wide trigger failure down like a run does: of the
open errors it sends together, only the guilty record's stays open; once the trigger is
fixed, that one resolves too."""

from __future__ import annotations

import pytest

from exports.models import ExportError, ExportRun
from exports.run.reexport import reexport_errors
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue

pytestmark = pytest.mark.integration

TRIGGER = {
    "when": {"field": "LastName", "equals": "BOOM"},
    "message": "ContactTrigger: execution of BeforeUpdate",
    "scope": "chunk",
}


def test_reexport_resolves_the_innocent_and_keeps_only_the_guilty_open(
    sandbox, celery_worker, crm_account
):
    sandbox.set_rules(
        {"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL], "trigger_fail": [TRIGGER]}}}
    )
    account = crm_account(pause=False)
    customers = {f"person-{i}": {"Type__c": "Customer"} for i in (3, 9, 14)}
    ids = enqueue(account, contacts(20, **customers, **{"person-11": {"LastName": "BOOM"}}))
    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)
    assert (run.exported, run.failed) == (16, 4)
    guilty = ExportError.objects.get(error_code="CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY")
    assert guilty.record_id == ids[10]

    # The validation rule is fixed; the trigger still throws for person-11. The four open
    # errors go out in one Collections request, which the trigger fails whole.
    sandbox.set_rules({"objects": {"Contact": {"trigger_fail": [TRIGGER]}}})
    summary = reexport_errors(account.id)

    assert (summary.resolved, summary.failed) == (3, 1)
    assert list(ExportError.objects.filter(status="open").values_list("id", flat=True)) == [
        guilty.id
    ]
    guilty.refresh_from_db()
    assert guilty.attempts == 2

    sandbox.set_rules({})
    assert reexport_errors(account.id).resolved == 1
    assert not ExportError.objects.filter(status="open").exists()
