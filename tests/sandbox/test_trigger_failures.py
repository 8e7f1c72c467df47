"""`trigger_fail`: a matching record fails with CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY."""

from __future__ import annotations

URI = "composite/sobjects/Contact/ExtId__c"


def test_matching_record_fails_with_the_trigger_message(sandbox):
    sandbox.set_rules(
        {
            "objects": {
                "Contact": {
                    "trigger_fail": [
                        {
                            "when": {"field": "LastName", "equals": "BOOM"},
                            "message": "ContactTrigger: execution of BeforeInsert",
                        }
                    ]
                }
            }
        }
    )
    sf = sandbox.salesforce()
    records = [
        {"attributes": {"type": "Contact"}, "ExtId__c": "a", "LastName": "BOOM"},
        {"attributes": {"type": "Contact"}, "ExtId__c": "b", "LastName": "Fine"},
    ]

    results = sf.restful(URI, method="PATCH", json={"records": records})

    (error,) = results[0]["errors"]
    assert error["statusCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert error["message"].startswith("ContactTrigger: execution of BeforeInsert\n\ncaused by: ")
    assert results[1]["success"] is True
