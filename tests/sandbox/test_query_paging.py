"""`GET query` answers in pages: more records than one batch (2,000, or
`Sforce-Query-Options: batchSize=N`) come with `done: false` and a `nextRecordsUrl`
(`query/<locator>-<offset>`), which simple-salesforce's query_all follows."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

URI = "composite/sobjects/Contact/ExtId__c"


@pytest.fixture(scope="module")
def records():
    return [
        {"attributes": {"type": "Contact"}, "ExtId__c": f"c{i:04}", "LastName": f"N{i}"}
        for i in range(2300)
    ]


@pytest.fixture
def sf(sandbox, records):
    client = sandbox.salesforce()
    for start in range(0, len(records), 200):
        client.restful(URI, method="PATCH", json={"records": records[start : start + 200]})
    return client


def test_a_large_result_comes_in_pages_of_2000(sf):
    first = sf.query("SELECT Id, ExtId__c FROM Contact ORDER BY ExtId__c")

    assert (first["totalSize"], first["done"], len(first["records"])) == (2300, False, 2000)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert (second["totalSize"], second["done"], len(second["records"])) == (2300, True, 300)
    assert "nextRecordsUrl" not in second
    keys = [r["ExtId__c"] for r in first["records"] + second["records"]]
    assert keys == [f"c{i:04}" for i in range(2300)]


def test_query_all_follows_the_pages(sf):
    result = sf.query_all("SELECT Id FROM Contact")

    assert result["totalSize"] == 2300
    assert len({r["Id"] for r in result["records"]}) == 2300


def test_the_batch_size_header_is_honoured_within_200_to_2000(sf):
    asked = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=500"})
    tiny = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=10"})

    assert len(asked["records"]) == 500 and asked["nextRecordsUrl"].endswith("-500")
    assert len(tiny["records"]) == 200


def test_an_unknown_locator_is_invalid_query_locator(sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more("01gAAAAAAAAAAAAAAA-2000")

    assert caught.value.content == [
        {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}
    ]
