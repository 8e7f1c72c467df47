"""`lookups`: a parent by Id or by external id must exist, else the record is rejected."""

from __future__ import annotations

RULES = {"objects": {"Contact": {"lookups": {"AccountId": "Account"}}}}


def upsert_contacts(sf, *rows):
    records = [{"attributes": {"type": "Contact"}, **row} for row in rows]
    return sf.restful(
        "composite/sobjects/Contact/ExtId__c", method="PATCH", json={"records": records}
    )


def make_account(sf, ext_id: str) -> str:
    body = {"records": [{"attributes": {"type": "Account"}, "ExtId__c": ext_id, "Name": ext_id}]}
    return sf.restful("composite/sobjects/Account/ExtId__c", method="PATCH", json=body)[0]["id"]


def test_parent_by_external_id_is_resolved_to_its_id(sandbox):
    sandbox.set_rules(RULES)
    sf = sandbox.salesforce()
    account_id = make_account(sf, "acme")

    (result,) = upsert_contacts(
        sf, {"ExtId__c": "c1", "LastName": "Ames", "Account": {"ExtId__c": "acme"}}
    )

    assert result["success"] is True
    contact = sf.query("SELECT AccountId FROM Contact WHERE ExtId__c = 'c1'")["records"][0]
    assert contact["AccountId"] == account_id


def test_missing_parent_by_external_id_is_invalid_field(sandbox):
    sandbox.set_rules(RULES)
    sf = sandbox.salesforce()

    (result,) = upsert_contacts(
        sf, {"ExtId__c": "c1", "LastName": "Ames", "Account": {"ExtId__c": "nope"}}
    )

    assert result["errors"] == [
        {
            "statusCode": "INVALID_FIELD",
            "message": "Foreign key external ID: nope not found for field ExtId__c in entity Account",
            "fields": [],
        }
    ]


def test_parent_by_id_must_exist(sandbox):
    sandbox.set_rules(RULES)
    sf = sandbox.salesforce()
    account_id = make_account(sf, "acme")
    missing_id = "001" + account_id[3:14] + "Z"

    results = upsert_contacts(
        sf,
        {"ExtId__c": "c1", "LastName": "Ames", "AccountId": account_id},
        {"ExtId__c": "c2", "LastName": "Bell", "AccountId": missing_id},
    )

    assert results[0]["success"] is True
    assert results[1]["errors"] == [
        {
            "statusCode": "INVALID_CROSS_REFERENCE_KEY",
            "message": "invalid cross reference id",
            "fields": ["AccountId"],
        }
    ]


def test_a_reference_that_is_not_an_id_is_rejected_not_a_crash(sandbox):
    sandbox.set_rules(RULES)
    sf = sandbox.salesforce()

    (result,) = upsert_contacts(
        sf, {"ExtId__c": "c1", "LastName": "Ames", "AccountId": "not an id 12345"}
    )

    assert result["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
