"""Two records with one external id in a request: both fail with DUPLICATE_VALUE."""

from __future__ import annotations


def test_every_record_sharing_an_external_id_is_rejected(sandbox):
    sf = sandbox.salesforce()
    rows = [("a", "Ames"), ("b", "Bell"), ("a", "Amos")]
    records = [{"attributes": {"type": "Contact"}, "ExtId__c": k, "LastName": n} for k, n in rows]

    results = sf.restful(
        "composite/sobjects/Contact/ExtId__c",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )

    assert [r["success"] for r in results] == [False, True, False]
    assert results[0]["errors"] == [
        {
            "statusCode": "DUPLICATE_VALUE",
            "message": "Duplicate external id specified: a",
            "fields": ["ExtId__c"],
        }
    ]
    assert [w["external_id"] for w in sandbox.writes()] == ["b"]


def test_record_without_external_id_value_is_missing_argument(sandbox):
    sf = sandbox.salesforce()
    records = [{"attributes": {"type": "Contact"}, "LastName": "Ames"}]

    (result,) = sf.restful(
        "composite/sobjects/Contact/ExtId__c", method="PATCH", json={"records": records}
    )

    assert result["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert result["errors"][0]["message"] == "ExtId__c not specified"
