"""A value its field's type cannot take (per describe: a bad date, text in a number field)
is rejected before sending: the record is its own ExportError (JSON_PARSER_ERROR, the field
named) without an API call spent on it, and the records around it go through."""

from __future__ import annotations

import pytest

from exports.models import ExportCursor, ExportError, ExportRun
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import contacts, enqueue, written_external_ids

pytestmark = pytest.mark.integration

TYPES = {"objects": {"Contact": {"field_types": {"Birthdate": "date", "Score__c": "double"}}}}


def test_a_bad_date_pauses_at_its_record_with_no_call_spent_on_it(
    sandbox, celery_worker, crm_account
):
    sandbox.set_rules(TYPES)
    account = crm_account(pause=True)
    ids = enqueue(account, contacts(300, **{"person-150": {"Birthdate": "2024-13-45"}}))

    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)

    assert run.outcome == ExportRun.Outcome.PAUSED
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 150)]
    cursor = ExportCursor.objects.get(account=account)
    assert (cursor.paused_record_id, cursor.last_error_code) == (ids[149], "JSON_PARSER_ERROR")
    error = ExportError.objects.get()
    assert error.fields == ["Birthdate"]
    assert "2024-13-45" in error.message
    # The describe, then one call with the 149 records before it: nothing for the bad one.
    assert run.api_calls == 2


def test_pause_off_text_in_a_number_field_fails_only_its_record(
    sandbox, celery_worker, crm_account
):
    sandbox.set_rules(TYPES)
    account = crm_account(pause=False)
    ids = enqueue(account, contacts(300, **{"person-7": {"Score__c": "lots"}}))

    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)

    assert (run.outcome, run.exported, run.failed, run.api_calls) == ("completed", 299, 1, 2)
    assert sorted(written_external_ids(sandbox)) == sorted(
        f"person-{i}" for i in range(1, 301) if i != 7
    )
    error = ExportError.objects.get()
    assert (error.record_id, error.error_code, error.fields) == (
        ids[6],
        "JSON_PARSER_ERROR",
        ["Score__c"],
    )
