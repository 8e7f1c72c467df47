"""`fields`: an unknown field fails the whole request with 400 INVALID_FIELD."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

RULES = {"objects": {"Contact": {"fields": ["LastName", "ExtId__c"]}}}


def test_unknown_field_rejects_the_whole_request(sandbox):
    sandbox.set_rules(RULES)
    sf = sandbox.salesforce()
    records = [
        {"attributes": {"type": "Contact"}, "ExtId__c": "a", "LastName": "Ames"},
        {"attributes": {"type": "Contact"}, "ExtId__c": "b", "LastName": "Bell", "Shoe__c": 9},
    ]

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects/Contact/ExtId__c", method="PATCH", json={"records": records})

    assert caught.value.status == 400
    assert caught.value.content == [
        {
            "message": "No such column 'Shoe__c' on sobject of type Contact",
            "errorCode": "INVALID_FIELD",
        }
    ]
    assert sandbox.writes() == []


def test_objects_not_listed_accept_any_field(sandbox):
    sandbox.set_rules(RULES)
    sf = sandbox.salesforce()
    records = [{"attributes": {"type": "Lead"}, "ExtId__c": "a", "Anything__c": "goes"}]

    (result,) = sf.restful(
        "composite/sobjects/Lead/ExtId__c", method="PATCH", json={"records": records}
    )

    assert result["success"] is True


def test_unknown_external_id_field_is_not_found(sandbox):
    sandbox.set_rules(RULES)
    sf = sandbox.salesforce()

    response = sandbox.session.patch(
        f"{sandbox.url}/services/data/v59.0/composite/sobjects/Contact/Nope__c",
        json={"records": []},
        headers={"Authorization": f"Bearer {sf.session_id}"},
    )

    assert response.status_code == 404
    assert response.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
