"""External ids fold case unless `external_ids.<field>.case_sensitive` is true, as in real
orgs: "ABC" and "abc" are one record (the stored value is the one last written), are
duplicates in one request, and find the same parent through a relationship."""

from __future__ import annotations

URI = "composite/sobjects/Contact/ExtId__c"


def contact(ext_id: str, last_name: str, **fields) -> dict:
    return {"attributes": {"type": "Contact"}, "ExtId__c": ext_id, "LastName": last_name, **fields}


def upsert(sf, *records: dict) -> list[dict]:
    return sf.restful(URI, method="PATCH", json={"allOrNone": False, "records": list(records)})


def test_keys_differing_only_by_case_are_one_record(sandbox):
    sf = sandbox.salesforce()

    (first,) = upsert(sf, contact("ABC", "Old"))
    (second,) = upsert(sf, contact("abc", "New"))

    assert second == {"id": first["id"], "success": True, "errors": [], "created": False}
    stored = sf.Contact.get(first["id"])
    assert (stored["ExtId__c"], stored["LastName"]) == ("abc", "New")
    assert sf.Contact.get_by_custom_id("ExtId__c", "aBc")["Id"] == first["id"]
    assert len(sf.query("SELECT Id FROM Contact")["records"]) == 1


def test_keys_differing_only_by_case_are_duplicates_in_one_request(sandbox):
    sf = sandbox.salesforce()

    results = upsert(sf, contact("ABC", "A"), contact("x", "X"), contact("abc", "B"))

    assert [r["success"] for r in results] == [False, True, False]
    assert [r["errors"][0]["message"] for r in (results[0], results[2])] == [
        "Duplicate external id specified: ABC",
        "Duplicate external id specified: abc",
    ]
    assert all(r["errors"][0]["statusCode"] == "DUPLICATE_VALUE" for r in (results[0], results[2]))


def test_a_case_sensitive_field_keeps_them_apart(sandbox):
    sandbox.set_rules(
        {"objects": {"Contact": {"external_ids": {"ExtId__c": {"case_sensitive": True}}}}}
    )
    sf = sandbox.salesforce()

    together = upsert(sf, contact("ABC", "A"), contact("abc", "B"))
    (again,) = upsert(sf, contact("Abc", "C"))

    assert [r["created"] for r in together] == [True, True]
    assert again["created"] is True
    assert len(sf.query("SELECT Id FROM Contact")["records"]) == 3


def test_a_parent_is_found_by_its_external_id_in_any_case(sandbox):
    sandbox.set_rules({"objects": {"Contact": {"lookups": {"AccountId": "Account"}}}})
    sf = sandbox.salesforce()
    (account,) = sf.restful(
        "composite/sobjects/Account/ExtId__c",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Account"}, "ExtId__c": "ACME", "Name": "A"}]},
    )

    (result,) = upsert(sf, contact("c1", "Cole", Account={"ExtId__c": "acme"}))

    assert result["success"] is True, result
    assert sf.Contact.get(result["id"])["AccountId"] == account["id"]
