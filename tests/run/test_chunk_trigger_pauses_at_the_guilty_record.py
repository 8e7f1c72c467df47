"""A trigger that fails its whole 200-record chunk (as unhandled Apex exceptions do) is
narrowed down to the record that fails alone: pause on parks there, never at the chunk's
first, innocent record; pause off logs one ExportError and writes every other record."""

from __future__ import annotations

import math

import pytest

from exports.models import ExportCursor, ExportError, ExportRun
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import contacts, enqueue, written_external_ids

pytestmark = pytest.mark.integration

N = 1000  # one call: 5 batches of 200
GUILTY = 637  # in the fourth batch (601-800), not its first record
CHUNK_TRIGGER = {
    "objects": {
        "Contact": {
            "trigger_fail": [
                {
                    "when": {"field": "LastName", "equals": "BOOM"},
                    "message": "ContactTrigger: execution of BeforeInsert",
                    "scope": "chunk",
                }
            ]
        }
    }
}
# One describe, the call itself; at most 2·⌈log2 n⌉ + 2 more to find the guilty record.
BUDGET = 1 + 1 + 2 * math.ceil(math.log2(N)) + 2


def test_pause_on_parks_at_the_guilty_record_not_the_chunks_first(
    sandbox, celery_worker, crm_account
):
    sandbox.set_rules(CHUNK_TRIGGER)
    account = crm_account(pause=True)
    ids = enqueue(account, contacts(N, **{f"person-{GUILTY}": {"LastName": "BOOM"}}))

    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)

    assert run.outcome == ExportRun.Outcome.PAUSED
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, GUILTY)]
    cursor = ExportCursor.objects.get(account=account)
    assert (cursor.paused_record_id, cursor.last_exported_id) == (ids[GUILTY - 1], ids[GUILTY - 2])
    assert cursor.last_error_code == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    error = ExportError.objects.get()
    assert error.record_id == ids[GUILTY - 1]
    assert run.api_calls <= BUDGET, f"{run.api_calls} calls to find one guilty record"

    sandbox.set_rules({})
    resumed = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)

    assert resumed.outcome == ExportRun.Outcome.COMPLETED
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, N + 1)]
    error.refresh_from_db()
    assert error.status == ExportError.Status.RESOLVED


def test_pause_off_logs_one_export_error_and_writes_every_other_record(
    sandbox, celery_worker, crm_account
):
    sandbox.set_rules(CHUNK_TRIGGER)
    account = crm_account(pause=False)
    ids = enqueue(account, contacts(N, **{f"person-{GUILTY}": {"LastName": "BOOM"}}))

    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)

    assert (run.outcome, run.exported, run.failed) == (ExportRun.Outcome.COMPLETED, N - 1, 1)
    assert sorted(written_external_ids(sandbox)) == sorted(
        f"person-{i}" for i in range(1, N + 1) if i != GUILTY
    )
    error = ExportError.objects.get()
    assert (error.record_id, error.error_code) == (
        ids[GUILTY - 1],
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
    )
    assert ExportCursor.objects.get(account=account).last_exported_id == ids[-1]
    assert run.api_calls <= BUDGET, f"{run.api_calls} calls to find one guilty record"
