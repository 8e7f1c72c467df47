"""`faults.lock_wrapped`: the `lock_rows_next` records fail as a trigger meets the lock in a
real org — CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY with UNABLE_TO_LOCK_ROW inside the message."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

URI = "composite/sobjects/Contact/ExtId__c"


def batch(*keys: str) -> dict:
    records = [{"attributes": {"type": "Contact"}, "ExtId__c": k, "LastName": k} for k in keys]
    return {"allOrNone": False, "records": records}


def test_locked_rows_fail_wrapped_in_the_trigger_error(sandbox):
    sf = sandbox.salesforce()
    (existing,) = sf.restful(URI, method="PATCH", json=batch("a"))
    sandbox.set_faults(lock_rows_next=2, lock_wrapped=True)

    results = sf.restful(URI, method="PATCH", json=batch("a", "b", "c"))

    assert [r["success"] for r in results] == [False, False, True]
    (error,) = results[0]["errors"]
    assert error["statusCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert error["fields"] == []
    assert error["message"].startswith("ContactTrigger: execution of AfterUpdate\n\ncaused by: ")
    assert (
        "first error: UNABLE_TO_LOCK_ROW, unable to obtain exclusive access to this record"
        f" or 1 records: {existing['id']}: []"
    ) in error["message"]
    created = results[1]["errors"][0]["message"]
    assert "UNABLE_TO_LOCK_ROW, unable to obtain exclusive access to this record" in created
    assert "or 1 records: 003" in created
    assert [w["external_id"] for w in sandbox.writes()] == ["a", "c"]


def test_single_record_upsert_gets_400_with_the_wrapped_lock(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(lock_rows_next=1, lock_wrapped=True)

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.upsert("ExtId__c/a", {"LastName": "Ames"})

    (error,) = caught.value.content
    assert error["errorCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert "UNABLE_TO_LOCK_ROW" in error["message"]


def test_lock_wrapped_false_keeps_the_plain_lock_error(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_rules({"faults": {"lock_rows_next": 1, "lock_wrapped": False}})

    (result,) = sf.restful(URI, method="PATCH", json=batch("a"))

    assert result["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
