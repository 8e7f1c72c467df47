"""`validation`: a rule whose condition holds and whose field is blank rejects the record."""

from __future__ import annotations

URI = "composite/sobjects/Contact/ExtId__c"
RULES = {
    "objects": {
        "Contact": {
            "validation": [
                {
                    "name": "Email_Required_For_Customers",
                    "when": {"field": "Type__c", "equals": "Customer"},
                    "require": "Email",
                    "message": "Customers need an email",
                }
            ]
        }
    }
}


def upsert(sf, **fields):
    body = {"records": [{"attributes": {"type": "Contact"}, "ExtId__c": "a", **fields}]}
    return sf.restful(URI, method="PATCH", json=body)[0]


def test_customer_without_email_fails_the_validation_rule(sandbox):
    sandbox.set_rules(RULES)
    sf = sandbox.salesforce()

    result = upsert(sf, LastName="Ames", Type__c="Customer")

    assert result["errors"] == [
        {
            "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "message": "Customers need an email",
            "fields": [],
        }
    ]


def test_rule_sees_the_record_after_the_update(sandbox):
    sandbox.set_rules(RULES)
    sf = sandbox.salesforce()
    assert upsert(sf, LastName="Ames", Email="a@x.org")["success"] is True

    # Email is already on the record: becoming a customer passes.
    assert upsert(sf, Type__c="Customer")["success"] is True
    # Blanking the email of a customer fails.
    assert upsert(sf, Email=None)["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def test_records_outside_the_condition_pass(sandbox):
    sandbox.set_rules(RULES)
    sf = sandbox.salesforce()

    assert upsert(sf, LastName="Ames", Type__c="Partner")["success"] is True
