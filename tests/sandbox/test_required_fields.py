"""`required`: a create without the field, or an update blanking it, is REQUIRED_FIELD_MISSING."""

from __future__ import annotations

URI = "composite/sobjects/Contact/ExtId__c"


def upsert(sf, **fields):
    body = {"records": [{"attributes": {"type": "Contact"}, "ExtId__c": "a", **fields}]}
    return sf.restful(URI, method="PATCH", json=body)[0]


def test_create_without_required_field_is_rejected(sandbox):
    sandbox.set_rules({"objects": {"Contact": {"required": ["LastName", "Company__c"]}}})
    sf = sandbox.salesforce()

    result = upsert(sf, LastName="Ames")

    assert result["success"] is False
    assert result["errors"] == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [Company__c]",
            "fields": ["Company__c"],
        }
    ]


def test_update_may_leave_required_field_out_but_not_blank_it(sandbox):
    sandbox.set_rules({"objects": {"Contact": {"required": ["LastName"]}}})
    sf = sandbox.salesforce()
    assert upsert(sf, LastName="Ames")["success"] is True

    left_out = upsert(sf, Email="a@x.org")
    blanked = upsert(sf, LastName="")

    assert left_out["success"] is True
    assert blanked["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"


def test_single_record_upsert_answers_400_with_the_error_array(sandbox):
    sandbox.set_rules({"objects": {"Contact": {"required": ["LastName"]}}})
    sf = sandbox.salesforce()

    response = sandbox.session.patch(
        f"{sandbox.url}/services/data/v59.0/sobjects/Contact/ExtId__c/a",
        json={"Email": "a@x.org"},
        headers={"Authorization": f"Bearer {sf.session_id}"},
    )

    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "Required fields are missing: [LastName]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["LastName"],
        }
    ]
