"""`max_length`: a longer string is STRING_TOO_LONG for that record only."""

from __future__ import annotations

URI = "composite/sobjects/Contact/ExtId__c"


def test_value_over_max_length_is_string_too_long(sandbox):
    sandbox.set_rules({"objects": {"Contact": {"max_length": {"LastName": 5}}}})
    sf = sandbox.salesforce()
    records = [
        {"attributes": {"type": "Contact"}, "ExtId__c": "a", "LastName": "Ames"},
        {"attributes": {"type": "Contact"}, "ExtId__c": "b", "LastName": "Bellamy"},
    ]

    results = sf.restful(URI, method="PATCH", json={"records": records})

    assert results[0]["success"] is True
    assert results[1]["errors"] == [
        {
            "statusCode": "STRING_TOO_LONG",
            "message": "LastName: data value too large: Bellamy (max length=5)",
            "fields": ["LastName"],
        }
    ]
