"""The daily re-export never resurrects a deleted record nor deletes a newer one."""

from __future__ import annotations

import pytest

from exports.models import ExportError
from exports.run.reexport import plan_group, reexport_errors
from exports.tools.runner import run_and_wait
from tests.deletes.test_deletes_in_order import REFUSE_CUSTOMERS, contact, deletion, ops_of
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, enqueue

pytestmark = pytest.mark.integration

KEY = ("Contact", "ExtId__c", "k")


@pytest.mark.parametrize(
    ("events", "live", "fields", "delete", "moot"),
    [
        # upsert errors merge, newest value wins
        (
            [(1, False, 11, {"A": 1}), (2, False, 12, {"A": 2, "B": 1})],
            (11, 12),
            {"A": 2, "B": 1},
            False,
            (),
        ),
        # a record written between two errors drops what it wrote from the older error
        (
            [(1, False, 11, {"A": 1}), (2, False, None, {"A": 9}), (3, False, 13, {"B": 2})],
            (11, 13),
            {"B": 2},
            False,
            (),
        ),
        # a later written deletion makes every earlier error moot
        ([(1, False, 11, {"A": 1}), (2, True, None, {})], (), {}, False, (11,)),
        # a later deletion error: earlier upsert errors are moot, the deletion is sent
        ([(1, False, 11, {"A": 1}), (2, True, 12, {})], (12,), {}, True, (11,)),
        # a later upsert (written) makes a deletion error moot
        ([(1, True, 11, {}), (2, False, None, {"A": 1})], (), {}, False, (11,)),
        # a later upsert error makes a deletion error moot; the upsert is sent
        ([(1, True, 11, {}), (2, False, 12, {"A": 1})], (12,), {"A": 1}, False, (11,)),
        # order is the outbox's, not the list's
        ([(2, True, 12, {}), (1, False, 11, {"A": 1})], (12,), {}, True, (11,)),
        # the external id field is never sent as a field
        ([(1, False, 11, {"ExtId__c": "k", "A": 1})], (11,), {"A": 1}, False, ()),
    ],
)
def test_plan_group(events, live, fields, delete, moot):
    group = plan_group(KEY, events)
    assert (group.error_ids, group.fields, group.delete, group.moot) == (live, fields, delete, moot)


def test_an_upsert_error_whose_key_was_deleted_later_is_superseded(
    sandbox, celery_worker, crm_account
):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(pause=False)
    enqueue(account, [contact("k", LastName="K", Type__c="Customer"), deletion("k")])
    run = run_and_wait(account, timeout=60)
    assert (run.exported, run.failed) == (1, 1)  # the deletion of an absent key is done
    sandbox.set_rules({})
    writes = len(sandbox.writes())

    summary = reexport_errors(account.id)

    assert (summary.resolved, summary.superseded, summary.api_calls) == (0, 1, 0)
    assert len(sandbox.writes()) == writes
    assert ExportError.objects.get(account=account).status == ExportError.Status.SUPERSEDED
    assert "k" not in {r["ExtId__c"] for r in sandbox.records("Contact", ["ExtId__c"])}


def test_a_deletion_error_whose_key_was_upserted_later_is_superseded(
    sandbox, celery_worker, crm_account
):
    account = crm_account(pause=False)
    enqueue(account, [contact("k", LastName="K", Type__c="Customer")])
    assert run_and_wait(account, timeout=60).exported == 1
    sandbox.set_rules(REFUSE_CUSTOMERS)
    enqueue(account, [deletion("k"), contact("k", LastName="Newer", Type__c="Lead")])
    run = run_and_wait(account, timeout=60)
    assert (run.exported, run.failed) == (1, 1)
    sandbox.set_rules({})

    summary = reexport_errors(account.id)

    assert (summary.resolved, summary.superseded, summary.api_calls) == (0, 1, 0)
    assert ops_of(sandbox, "k") == ["upsert", "upsert"]
    assert {
        r["ExtId__c"]: r["LastName"] for r in sandbox.records("Contact", ["ExtId__c", "LastName"])
    } == {"k": "Newer"}
