"""DELETE sobjects/{S}/{Id} and DELETE sobjects/{S}/{ExtField}/{value}: 204, or 404 with
Salesforce's error array when there is no such live record."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceResourceNotFound

from tests.sandbox.delete_helpers import UNKNOWN_ID, ext_ids, rows, upsert

NOT_FOUND = [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
IS_DELETED = [{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED"}]


def not_found(call) -> list:
    with pytest.raises(SalesforceResourceNotFound) as missing:
        call()
    return missing.value.content


def test_delete_by_id_answers_204_then_404_entity_is_deleted(sandbox):
    """A deleted record is in the recycle bin: by Id it is deleted, by external id gone."""
    sf = sandbox.salesforce()
    a, b = upsert(sf, "a", "b")

    assert sf.Contact.delete(a) == 204

    assert ext_ids(sf) == ["b"]
    assert not_found(lambda: sf.Contact.delete(a)) == IS_DELETED
    assert not_found(lambda: sf.Contact.get(a)) == IS_DELETED
    assert not_found(lambda: sf.Contact.get_by_custom_id("ExtId__c", "a")) == NOT_FOUND


def test_an_unknown_malformed_or_other_object_id_is_not_found(sandbox):
    sf = sandbox.salesforce()
    (a,) = upsert(sf, "a")

    assert not_found(lambda: sf.Contact.delete(UNKNOWN_ID)) == NOT_FOUND
    assert not_found(lambda: sf.Contact.delete("nonsense")) == NOT_FOUND
    assert not_found(lambda: sf.Account.delete(a)) == NOT_FOUND
    assert ext_ids(sf) == ["a"]


def test_delete_by_external_id_folds_case_by_default(sandbox):
    sf = sandbox.salesforce()
    upsert(sf, "ABC", "other")

    assert sf.Contact.delete("ExtId__c/abc") == 204

    assert ext_ids(sf) == ["other"]
    assert not_found(lambda: sf.Contact.delete("ExtId__c/abc")) == NOT_FOUND


def test_delete_by_a_case_sensitive_external_id_matches_exactly(sandbox):
    sandbox.set_rules(
        {"objects": {"Contact": {"external_ids": {"ExtId__c": {"case_sensitive": True}}}}}
    )
    sf = sandbox.salesforce()
    upsert(sf, "ABC")

    assert not_found(lambda: sf.Contact.delete("ExtId__c/abc")) == NOT_FOUND
    assert sf.Contact.delete("ExtId__c/ABC") == 204
    assert ext_ids(sf) == []


def test_an_upsert_after_a_delete_creates_a_new_record(sandbox):
    sf = sandbox.salesforce()
    (old,) = upsert(sf, "k")
    sf.Contact.delete(old)

    (result,) = sf.restful(
        "composite/sobjects/Contact/ExtId__c",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Contact"}, "ExtId__c": "K", "LastName": "New"}]},
    )

    assert result["created"] is True and result["success"] is True
    assert result["id"] != old
    assert sf.Contact.get_by_custom_id("ExtId__c", "k")["Id"] == result["id"]
    single = sf.Contact.upsert("ExtId__c/k", {"LastName": "Again"})
    assert single == 200  # the sandbox's answer for an update (201: created)


def test_a_lookup_to_a_deleted_parent_fails_the_record(sandbox):
    """By Id: ENTITY_IS_DELETED; by the parent's external id: not found, as for no parent."""
    sandbox.set_rules({"objects": {"Contact": {"lookups": {"AccountId": "Account"}}}})
    sf = sandbox.salesforce()
    (acme,) = upsert(sf, "acme", sobject="Account", Name="Acme")
    sf.Account.delete(acme)

    by_id, by_external_id = sf.restful(
        "composite/sobjects/Contact/ExtId__c",
        method="PATCH",
        json={"records": rows("c1", AccountId=acme) + rows("c2", Account={"ExtId__c": "acme"})},
    )

    assert by_id["errors"] == [
        {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": ["AccountId"]}
    ]
    assert by_external_id["errors"][0]["statusCode"] == "INVALID_FIELD"
