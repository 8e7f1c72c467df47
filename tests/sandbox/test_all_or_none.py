"""allOrNone: true writes nothing when one record fails; false writes the good ones."""

from __future__ import annotations

URI = "composite/sobjects/Contact/ExtId__c"
RULES = {"objects": {"Contact": {"required": ["LastName"]}}}


def batch(all_or_none: bool) -> dict:
    rows = [
        {"ExtId__c": "a", "LastName": "Ames"},
        {"ExtId__c": "b"},
        {"ExtId__c": "c", "LastName": "Cole"},
    ]
    return {
        "allOrNone": all_or_none,
        "records": [{"attributes": {"type": "Contact"}, **r} for r in rows],
    }


def test_all_or_none_true_writes_nothing_and_names_the_bad_record(sandbox):
    sandbox.set_rules(RULES)
    sf = sandbox.salesforce()

    results = sf.restful(URI, method="PATCH", json=batch(True))

    assert [r["success"] for r in results] == [False, False, False]
    codes = [r["errors"][0]["statusCode"] for r in results]
    assert codes == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "REQUIRED_FIELD_MISSING",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]
    assert results[1]["errors"][0]["fields"] == ["LastName"]
    assert sandbox.writes() == []
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 0


def test_all_or_none_false_writes_the_good_records(sandbox):
    sandbox.set_rules(RULES)
    sf = sandbox.salesforce()

    results = sf.restful(URI, method="PATCH", json=batch(False))

    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[1]["id"] is None
    assert [w["external_id"] for w in sandbox.writes()] == ["a", "c"]


def test_all_or_none_defaults_to_false(sandbox):
    sandbox.set_rules(RULES)
    sf = sandbox.salesforce()
    body = batch(False)
    del body["allOrNone"]

    results = sf.restful(URI, method="PATCH", json=body)

    assert [r["success"] for r in results] == [True, False, True]
