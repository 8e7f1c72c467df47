"""`readonly`: writing a field without permission is INVALID_FIELD_FOR_INSERT_UPDATE, per record."""

from __future__ import annotations

URI = "composite/sobjects/Contact/ExtId__c"


def test_writing_a_readonly_field_rejects_only_that_record(sandbox):
    sandbox.set_rules({"objects": {"Contact": {"readonly": ["OwnerId"]}}})
    sf = sandbox.salesforce()
    records = [
        {"attributes": {"type": "Contact"}, "ExtId__c": "a", "LastName": "Ames", "OwnerId": "005x"},
        {"attributes": {"type": "Contact"}, "ExtId__c": "b", "LastName": "Bell"},
    ]

    results = sf.restful(URI, method="PATCH", json={"records": records})

    (error,) = results[0]["errors"]
    assert error["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error["message"].startswith("Unable to create/update fields: OwnerId.")
    assert error["fields"] == ["OwnerId"]
    assert results[1]["success"] is True
