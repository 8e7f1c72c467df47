"""sObject Collections upsert by external id: created then updated; allOrNone both ways."""

from __future__ import annotations

from typing import Any

import pytest

from salesforce.client import Gateway
from tests.salesforce.conftest import contacts

CUSTOMER_WITHOUT_EMAIL = {"ExtId__c": "bad", "LastName": "Bad", "Type__c": "Customer"}


def test_create_then_update_the_same_external_ids(gateway: Gateway) -> None:
    first = gateway.upsert_collection("Contact", "ExtId__c", contacts("a", "b"), True)
    second = gateway.upsert_collection("Contact", "ExtId__c", contacts("a", "b"), True)

    assert [(r.ok, r.created) for r in first] == [(True, True), (True, True)]
    assert [(r.ok, r.created) for r in second] == [(True, False), (True, False)]
    assert [r.sf_id for r in first] == [r.sf_id for r in second]
    assert all(r.sf_id for r in first)
    assert gateway.api_calls == 2


def test_all_or_none_with_one_bad_record_writes_nothing_and_names_it(
    gateway: Gateway, sandbox: Any
) -> None:
    records = [*contacts("a"), CUSTOMER_WITHOUT_EMAIL, *contacts("c")]

    results = gateway.upsert_collection("Contact", "ExtId__c", records, all_or_none=True)

    assert sandbox.writes() == []
    assert [r.ok for r in results] == [False, False, False]
    assert [r.rolled_back for r in results] == [True, False, True]
    bad = results[1]
    assert bad.error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert bad.message == "Customers need an email"
    assert not bad.transient


def test_partial_success_writes_the_good_ones(gateway: Gateway, sandbox: Any) -> None:
    records = [*contacts("a"), CUSTOMER_WITHOUT_EMAIL, *contacts("c")]

    results = gateway.upsert_collection("Contact", "ExtId__c", records, all_or_none=False)

    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert not results[1].rolled_back
    assert len(sandbox.writes()) == 2


def test_more_than_200_records_are_refused_before_sending(gateway: Gateway) -> None:
    with pytest.raises(ValueError, match="at most 200"):
        gateway.upsert_collection("Contact", "ExtId__c", contacts(*map(str, range(201))), True)
    assert gateway.api_calls == 0


def test_api_usage_is_read_from_every_answer(gateway: Gateway) -> None:
    gateway.upsert_collection("Contact", "ExtId__c", contacts("a"), True)
    used, limit = gateway.api_usage or (0, 0)
    gateway.upsert_collection("Contact", "ExtId__c", contacts("b"), True)

    assert gateway.api_usage == (used + 1, limit)
    assert limit > 0


def test_answers_are_read_as_plain_dicts(gateway: Gateway) -> None:
    """Salesforce's answers decoded by json's C decoder into dicts (simple-salesforce's
    default built an OrderedDict per object in Python, and each result then missed the
    results' quick path)."""
    gateway.upsert_collection("Contact", "ExtId__c", contacts("a"), True)
    answer = gateway._rest(
        "composite/sobjects/Contact/ExtId__c",
        "PATCH",
        json={
            "allOrNone": True,
            "records": [{"attributes": {"type": "Contact"}, **contacts("a")[0]}],
        },
    )
    assert type(answer) is list and type(answer[0]) is dict
