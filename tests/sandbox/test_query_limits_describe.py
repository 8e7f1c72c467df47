"""SOQL subset, the limits resource and describe."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


@pytest.fixture
def sf(sandbox):
    client = sandbox.salesforce()
    rows = [
        ("a", "Ames", "Customer"),
        ("b", "Bell", None),
        ("c", "Cole", "Customer"),
        ("d", "Dunn", "Partner"),
    ]
    records = [
        {"attributes": {"type": "Contact"}, "ExtId__c": k, "LastName": n, "Type__c": t}
        for k, n, t in rows
    ]
    client.restful("composite/sobjects/Contact/ExtId__c", method="PATCH", json={"records": records})
    return client


def names(result) -> list[str]:
    return [r["LastName"] for r in result["records"]]


def test_where_equals_and_in(sf):
    assert names(sf.query("SELECT LastName FROM Contact WHERE Type__c = 'Customer'")) == [
        "Ames",
        "Cole",
    ]
    assert names(sf.query("SELECT LastName FROM Contact WHERE ExtId__c IN ('d', 'b')")) == [
        "Bell",
        "Dunn",
    ]
    assert names(sf.query("SELECT LastName FROM Contact WHERE Type__c = null")) == ["Bell"]


def test_order_by_and_limit(sf):
    result = sf.query("SELECT Id, LastName FROM Contact ORDER BY LastName DESC LIMIT 2")

    assert names(result) == ["Dunn", "Cole"]
    assert result["totalSize"] == 2 and result["done"] is True
    record = result["records"][0]
    assert record["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v59.0/sobjects/Contact/{record['Id']}",
    }


def test_unknown_column_of_a_listed_object_is_invalid_field(sandbox, sf):
    sandbox.set_rules({"objects": {"Contact": {"fields": ["LastName", "ExtId__c", "Type__c"]}}})

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Shoe__c FROM Contact")

    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert caught.value.content[0]["message"].startswith(
        "No such column 'Shoe__c' on entity 'Contact'."
    )


def test_limits_report_daily_api_requests(sandbox):
    sandbox.set_faults(api_daily_limit=1000)
    sf = sandbox.salesforce()

    limits = sf.limits()

    assert limits["DailyApiRequests"] == {"Max": 1000, "Remaining": 1000}


def test_describe_lists_the_rules_fields(sandbox):
    sandbox.set_rules(
        {
            "objects": {
                "Contact": {
                    "fields": ["LastName", "AccountId", "OwnerId", "ExtId__c"],
                    "required": ["LastName"],
                    "readonly": ["OwnerId"],
                    "max_length": {"LastName": 80},
                    "lookups": {"AccountId": "Account"},
                }
            }
        }
    )
    sf = sandbox.salesforce()

    describe = sf.Contact.describe()

    assert describe["name"] == "Contact" and describe["keyPrefix"] == "003"
    fields = {f["name"]: f for f in describe["fields"]}
    assert set(fields) == {"Id", "LastName", "AccountId", "OwnerId", "ExtId__c"}
    assert fields["LastName"]["nillable"] is False and fields["LastName"]["length"] == 80
    assert fields["OwnerId"]["updateable"] is False
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["AccountId"]["relationshipName"] == "Account"
