"""Pause off: rejected records are logged as ExportErrors and the run goes on."""

from __future__ import annotations

import pytest

from exports.models import ExportCursor, ExportError, ExportRun
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue, written_external_ids

pytestmark = pytest.mark.integration

RULES = {
    "objects": {
        "Contact": {
            "readonly": ["OwnerId"],
            "validation": [CUSTOMER_NEEDS_EMAIL],
            "trigger_fail": [
                {"when": {"field": "LastName", "equals": "BOOM"}, "message": "ContactTrigger: boom"}
            ],
        }
    }
}


def test_pause_off_writes_every_good_record_and_logs_each_bad_one(
    sandbox, celery_worker, crm_account
):
    sandbox.set_rules(RULES)
    account = crm_account(pause=False)
    bad = {
        "person-437": {"Type__c": "Customer"},
        "person-512": {"LastName": "BOOM"},
        "person-900": {"OwnerId": "005000000000001"},
    }
    ids = enqueue(account, contacts(1000, **bad))

    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)

    assert run.outcome == ExportRun.Outcome.COMPLETED
    good = [f"person-{i}" for i in range(1, 1001) if f"person-{i}" not in bad]
    assert written_external_ids(sandbox) == good
    errors = {e.external_id: e.error_code for e in ExportError.objects.filter(account=account)}
    assert errors == {
        "person-437": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "person-512": "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
        "person-900": "INVALID_FIELD_FOR_INSERT_UPDATE",
    }
    cursor = ExportCursor.objects.get(account=account)
    assert (cursor.state, cursor.last_exported_id) == (ExportCursor.State.IDLE, ids[-1])
    assert (run.attempted, run.exported, run.failed) == (1000, 997, 3)
