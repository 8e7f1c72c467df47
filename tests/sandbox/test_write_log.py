"""The write log lists every applied write in order, with the fields each one applied."""

from __future__ import annotations


def upsert(sf, sobject: str, *rows: dict, all_or_none: bool = True):
    records = [{"attributes": {"type": sobject}, **row} for row in rows]
    return sf.restful(
        f"composite/sobjects/{sobject}/ExtId__c",
        method="PATCH",
        json={"allOrNone": all_or_none, "records": records},
    )


def test_writes_are_logged_in_the_order_they_were_applied(sandbox):
    sf = sandbox.salesforce()
    upsert(
        sf, "Contact", {"ExtId__c": "p1", "LastName": "One"}, {"ExtId__c": "p2", "LastName": "Two"}
    )
    upsert(sf, "Touchpoint__c", {"ExtId__c": "t1", "Contact__c": "p1"})
    upsert(sf, "Contact", {"ExtId__c": "p1", "Email": "one@x.org"})

    writes = sandbox.writes()

    assert [(w["sobject"], w["external_id"], w["created"]) for w in writes] == [
        ("Contact", "p1", True),
        ("Contact", "p2", True),
        ("Touchpoint__c", "t1", True),
        ("Contact", "p1", False),
    ]
    assert [w["seq"] for w in writes] == sorted(w["seq"] for w in writes)
    assert writes[3]["fields"] == {"ExtId__c": "p1", "Email": "one@x.org"}
    assert writes[3]["sf_id"] == writes[0]["sf_id"]
    assert all(w["external_id_field"] == "ExtId__c" and w["at"].endswith("Z") for w in writes)


def test_since_returns_only_later_writes(sandbox):
    sf = sandbox.salesforce()
    upsert(sf, "Contact", {"ExtId__c": "p1", "LastName": "One"})
    last = sandbox.writes()[-1]["seq"]
    upsert(sf, "Contact", {"ExtId__c": "p2", "LastName": "Two"})

    response = sandbox.session.get(f"{sandbox.url}/sandbox/writes", params={"since": last}).json()

    assert [w["external_id"] for w in response["writes"]] == ["p2"]
    assert response["last_seq"] == response["writes"][-1]["seq"]


def test_rejected_records_are_not_logged(sandbox):
    sandbox.set_rules({"objects": {"Contact": {"required": ["LastName"]}}})
    sf = sandbox.salesforce()

    upsert(
        sf, "Contact", {"ExtId__c": "p1", "LastName": "One"}, {"ExtId__c": "p2"}, all_or_none=False
    )

    assert [w["external_id"] for w in sandbox.writes()] == ["p1"]


def test_delete_data_empties_records_and_the_log(sandbox):
    sf = sandbox.salesforce()
    upsert(sf, "Contact", {"ExtId__c": "p1", "LastName": "One"})

    sandbox.session.delete(f"{sandbox.url}/sandbox/data").raise_for_status()

    assert sandbox.writes() == []
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 0
    (result,) = upsert(sf, "Contact", {"ExtId__c": "p1", "LastName": "One"})
    assert result["created"] is True
