"""Several batches in one Composite call: one result per record in order, one API call, and
the all-or-none call rolled back whole when one record is rejected."""

from __future__ import annotations

from typing import Any

import pytest

from salesforce.client import Batch, Gateway, TransientError, encode_record
from salesforce.collections import subrequest_results
from tests.salesforce.conftest import contacts


def three_batches(**extra: dict[str, Any]) -> list[Batch]:
    """Contacts c-0..c-8 in three batches of three; `extra` adds fields by external id."""
    records = contacts(*(f"c-{i}" for i in range(9)))
    records = [{**r, **extra.get(r["ExtId__c"], {})} for r in records]
    encoded = [encode_record("Contact", r) for r in records]
    return [Batch("Contact", "ExtId__c", encoded[k : k + 3]) for k in (0, 3, 6)]


def written(sandbox: Any) -> list[str]:
    return [w["external_id"] for w in sandbox.writes()]


@pytest.mark.parametrize("all_or_none", [True, False])
def test_clean_batches_are_one_call_in_order(gateway: Gateway, sandbox: Any, all_or_none):
    results = gateway.upsert_batches(three_batches(), all_or_none=all_or_none)

    assert [r.ok for r in results] == [True] * 9
    assert all(r.created for r in results)
    assert written(sandbox) == [f"c-{i}" for i in range(9)]
    assert gateway.api_calls == 1
    assert gateway.api_usage is not None and gateway.api_usage[0] == 1


def test_all_or_none_rejection_rolls_back_the_whole_call(gateway: Gateway, sandbox: Any):
    batches = three_batches(**{"c-4": {"Type__c": "Customer"}})  # no Email: rejected

    results = gateway.upsert_batches(batches, all_or_none=True)

    assert results[4].error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert not results[4].rolled_back
    assert all(r.rolled_back and not r.ok for i, r in enumerate(results) if i != 4)
    assert written(sandbox) == []
    assert gateway.api_calls == 1


def test_partial_success_writes_everything_but_the_rejected_record(gateway: Gateway, sandbox: Any):
    batches = three_batches(**{"c-4": {"Type__c": "Customer"}})

    results = gateway.upsert_batches(batches, all_or_none=False)

    assert [r.ok for r in results] == [i != 4 for i in range(9)]
    assert written(sandbox) == [f"c-{i}" for i in range(9) if i != 4]


@pytest.mark.parametrize("all_or_none", [True, False])
def test_a_subrequest_refused_whole_is_sent_again_batch_by_batch(
    gateway: Gateway, sandbox: Any, all_or_none
):
    """An unknown field refuses its whole Collections subrequest (400 INVALID_FIELD): the
    batches go again one call each, where the split in halves finds the record."""
    batches = three_batches(**{"c-4": {"Nickname__c": "Bob"}})

    results = gateway.upsert_batches(batches, all_or_none=all_or_none)

    assert results[4].error_code == "INVALID_FIELD" and not results[4].rolled_back
    if all_or_none:
        assert [r.ok for r in results[:4]] == [True] * 4
        assert all(r.rolled_back for r in results[5:])
        assert written(sandbox) == [f"c-{i}" for i in range(4)]
    else:
        assert [r.ok for r in results] == [i != 4 for i in range(9)]
        # The Composite call wrote batches 1 and 3; sending them again writes the same.
        assert sorted(set(written(sandbox))) == [f"c-{i}" for i in range(9) if i != 4]
    assert gateway.api_calls > 1


def test_row_locks_come_back_per_record_as_transient(gateway: Gateway, sandbox: Any):
    sandbox.set_faults(lock_rows_next=2)

    results = gateway.upsert_batches(three_batches(), all_or_none=False)

    assert [r.transient for r in results] == [True, True] + [False] * 7
    assert written(sandbox) == [f"c-{i}" for i in range(2, 9)]


def test_a_failed_call_raises_transient_and_writes_nothing(gateway: Gateway, sandbox: Any):
    sandbox.set_faults(fail_next=1, fail_status=503)

    with pytest.raises(TransientError):
        gateway.upsert_batches(three_batches(), all_or_none=True)

    assert written(sandbox) == []


def test_more_than_five_batches_is_a_programming_error(gateway: Gateway):
    batch = three_batches()[0]
    with pytest.raises(ValueError, match="at most 5"):
        gateway.upsert_batches([batch] * 6, all_or_none=True)
    assert gateway.api_calls == 0


def test_per_record_results_count_whatever_the_subrequest_status():
    """Salesforce may mark the failed Collections subrequest of an all-or-none Composite
    with a 400 and still answer one result per record: those results are what counts."""
    body = [
        {"id": None, "success": False, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING"}]},
        {
            "id": None,
            "success": False,
            "errors": [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK"}],
        },
    ]

    results = subrequest_results({"httpStatusCode": 400, "body": body}, 2)

    assert results is not None
    assert [r.error_code for r in results] == [
        "REQUIRED_FIELD_MISSING",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]
    assert [r.rolled_back for r in results] == [False, True]
