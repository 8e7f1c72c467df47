"""sObject Collections upsert by external id: created, then updated, fields merged."""

from __future__ import annotations

from sandbox.ids import checksum

URI = "composite/sobjects/Contact/ExtId__c"


def contacts(*rows: dict) -> list[dict]:
    return [{"attributes": {"type": "Contact"}, **row} for row in rows]


def test_first_upsert_creates_second_updates(sandbox):
    sf = sandbox.salesforce()
    records = contacts({"ExtId__c": "a", "LastName": "Ames"}, {"ExtId__c": "b", "LastName": "Bell"})

    first = sf.restful(URI, method="PATCH", json={"allOrNone": True, "records": records})
    second = sf.restful(URI, method="PATCH", json={"allOrNone": True, "records": records})

    assert [r["created"] for r in first] == [True, True]
    assert [r["success"] for r in first] == [True, True]
    assert [r["errors"] for r in first] == [[], []]
    assert [r["created"] for r in second] == [False, False]
    assert [r["id"] for r in second] == [r["id"] for r in first]


def test_ids_look_like_salesforce_contact_ids(sandbox):
    sf = sandbox.salesforce()
    (result,) = sf.restful(
        URI, method="PATCH", json={"records": contacts({"ExtId__c": "a", "LastName": "Ames"})}
    )

    sf_id = result["id"]
    assert len(sf_id) == 18 and sf_id.startswith("003")
    assert sf_id[15:] == checksum(sf_id[:15])


def test_update_changes_only_the_fields_sent(sandbox):
    sf = sandbox.salesforce()
    sf.restful(
        URI,
        method="PATCH",
        json={"records": contacts({"ExtId__c": "a", "LastName": "Ames", "Email": "a@x.org"})},
    )
    sf.restful(
        URI, method="PATCH", json={"records": contacts({"ExtId__c": "a", "LastName": "Amos"})}
    )

    record = sf.query("SELECT LastName, Email FROM Contact WHERE ExtId__c = 'a'")["records"][0]
    assert (record["LastName"], record["Email"]) == ("Amos", "a@x.org")


def test_results_come_back_in_request_order(sandbox):
    sf = sandbox.salesforce()
    sf.restful(URI, method="PATCH", json={"records": contacts({"ExtId__c": "m", "LastName": "M"})})
    rows = [{"ExtId__c": key, "LastName": key.upper()} for key in ("z", "m", "a")]

    results = sf.restful(URI, method="PATCH", json={"records": contacts(*rows)})

    assert [r["created"] for r in results] == [True, False, True]
    by_id = {
        r["Id"]: r["ExtId__c"] for r in sf.query("SELECT Id, ExtId__c FROM Contact")["records"]
    }
    assert [by_id[r["id"]] for r in results] == ["z", "m", "a"]


def test_single_record_upsert_answers_201_then_200(sandbox):
    sf = sandbox.salesforce()

    created = sf.Contact.upsert("ExtId__c/solo", {"LastName": "Solo"}, raw_response=True)
    updated = sf.Contact.upsert("ExtId__c/solo", {"Email": "s@x.org"}, raw_response=True)

    assert created.status_code == 201 and created.json()["created"] is True
    assert updated.status_code == 200 and updated.json()["created"] is False
    assert updated.json()["id"] == created.json()["id"]
    record = sf.Contact.get_by_custom_id("ExtId__c", "solo")
    assert (record["LastName"], record["Email"]) == ("Solo", "s@x.org")
