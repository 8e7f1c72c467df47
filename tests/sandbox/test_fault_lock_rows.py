"""`lock_rows_next`: the next N records fail with UNABLE_TO_LOCK_ROW, per record."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

URI = "composite/sobjects/Contact/ExtId__c"


def batch(*keys: str, all_or_none: bool = False) -> dict:
    records = [{"attributes": {"type": "Contact"}, "ExtId__c": k, "LastName": k} for k in keys]
    return {"allOrNone": all_or_none, "records": records}


def test_next_rows_are_locked_then_rows_go_through(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(lock_rows_next=3)

    first = sf.restful(URI, method="PATCH", json=batch("a", "b"))
    second = sf.restful(URI, method="PATCH", json=batch("c", "d"))

    assert first[0]["errors"] == [
        {
            "statusCode": "UNABLE_TO_LOCK_ROW",
            "message": "unable to obtain exclusive access to this record",
            "fields": [],
        }
    ]
    assert [r["success"] for r in first + second] == [False, False, False, True]
    assert [w["external_id"] for w in sandbox.writes()] == ["d"]


def test_locked_row_under_all_or_none_rolls_back_the_rest(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(lock_rows_next=1)

    results = sf.restful(URI, method="PATCH", json=batch("a", "b", all_or_none=True))

    assert [r["errors"][0]["statusCode"] for r in results] == [
        "UNABLE_TO_LOCK_ROW",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]
    assert sandbox.writes() == []


def test_single_record_upsert_gets_400_unable_to_lock_row(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(lock_rows_next=1)

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.upsert("ExtId__c/a", {"LastName": "Ames"})

    assert caught.value.status == 400
    assert caught.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
