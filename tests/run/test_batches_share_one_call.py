"""Consecutive batches travel in one API call (a Composite request of Collections
subrequests, CRMSYNC_BATCHES_PER_CALL, default 5), in order, with the pause semantics intact.

Each test exports the first call of a fresh run with `exports.export_one_call`
against the sandbox org over HTTPS and reads the sandbox's write log.
"""

from __future__ import annotations

from typing import Any

import pytest

from exports.models import ExportCursor, ExportError, ExportRun
from exports.run import runs
from tests.pipeline_fixtures import (
    CUSTOMER_NEEDS_EMAIL,
    contacts,
    enqueue,
    export_one_call,
    written_external_ids,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

TOUCHPOINT = "bizible2__Bizible_Touchpoint__c"

# A run's first call describes each object it carries (field types, checked before sending).
DESCRIBE = 1


def first_call(account: Any) -> ExportRun:
    started = runs.start_run(account.id, ExportRun.Trigger.MANUAL)
    assert isinstance(started, runs.Running)
    export_one_call(account.id, started.run_id, started.after_id)
    return ExportRun.objects.get(id=started.run_id)


def person_and_touchpoint(i: int) -> list[dict[str, Any]]:
    return [
        {
            "sobject": "Contact",
            "external_id_field": "ExtId__c",
            "external_id": f"p{i}",
            "fields": {"LastName": f"P{i}"},
        },
        {
            "sobject": TOUCHPOINT,
            "external_id_field": "ExtId__c",
            "external_id": f"t{i}",
            "fields": {"bizible2__Contact__r": {"ExtId__c": f"p{i}"}},
        },
    ]


@pytest.mark.parametrize(("per_call", "written"), [(5, 50), (1, 10)])
def test_batches_per_call_go_in_one_call_in_order(
    sandbox, crm_account, settings, per_call, written
):
    settings.CRMSYNC_BATCHES_PER_CALL = per_call
    account = crm_account(slug="packed", batch_size=10)
    enqueue(account, contacts(60))

    run = first_call(account)

    assert (run.exported, run.api_calls) == (written, DESCRIBE + 1)
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, written + 1)]
    assert ExportCursor.objects.get(account=account).last_exported_id == run.last_record_id


def test_alternating_objects_share_one_call_and_lookups_resolve(sandbox, crm_account):
    sandbox.set_rules({"objects": {TOUCHPOINT: {"lookups": {"bizible2__Contact__c": "Contact"}}}})
    account = crm_account(slug="alternating")
    enqueue(account, [item for i in range(1, 4) for item in person_and_touchpoint(i)])

    run = first_call(account)

    # Five one-record batches (person, touchpoint, person, ...) in one call; each touchpoint
    # finds the person created by the subrequest before it.
    assert (run.exported, run.failed, run.api_calls) == (5, 0, 2 * DESCRIBE + 1)
    assert written_external_ids(sandbox) == ["p1", "t1", "p2", "t2", "p3"]


def test_pause_on_rejection_in_the_third_batch_writes_nothing_after_it(sandbox, crm_account):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(slug="paused", pause=True, batch_size=10)
    ids = enqueue(account, contacts(50, **{"person-25": {"Type__c": "Customer"}}))

    run = first_call(account)

    # The call is rolled back whole; the clean prefix (24 records, three batches) is sent
    # again as one call: one extra call for the rejection.
    assert (run.outcome, run.exported, run.api_calls) == ("paused", 24, DESCRIBE + 2)
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 25)]
    cursor = ExportCursor.objects.get(account=account)
    assert (cursor.state, cursor.paused_record_id, cursor.last_exported_id) == (
        "paused",
        ids[24],
        ids[23],
    )
    assert ExportError.objects.get(status="open").record_id == ids[24]


def test_pause_off_rejection_is_logged_and_the_rest_is_written(sandbox, crm_account):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(slug="logged", pause=False, batch_size=10)
    ids = enqueue(account, contacts(50, **{"person-25": {"Type__c": "Customer"}}))

    run = first_call(account)

    assert (run.exported, run.failed, run.api_calls) == (49, 1, DESCRIBE + 1)
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 51) if i != 25]
    assert ExportCursor.objects.get(account=account).last_exported_id == ids[-1]
    assert ExportError.objects.get(status="open").record_id == ids[24]


def test_a_repeated_external_id_ends_the_call(sandbox, crm_account):
    account = crm_account(slug="repeat", batch_size=10)
    enqueue(account, contacts(15) + contacts(5))  # person-1..5 again after person-15

    run = first_call(account)

    assert (run.exported, run.api_calls) == (15, DESCRIBE + 1)
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 16)]
