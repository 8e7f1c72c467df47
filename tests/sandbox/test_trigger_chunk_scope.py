"""`trigger_fail[].scope: "chunk"`: a matching record fails its whole chunk (every record of
the Collections request or Composite subrequest), allOrNone or not, and nothing of it is
written — as an unhandled Apex trigger exception does in a real org."""

from __future__ import annotations

import pytest

URI = "composite/sobjects/Contact/ExtId__c"
API = "/services/data/v59.0"
MESSAGE = "ContactTrigger: execution of BeforeInsert"


def chunk_rules(scope: str = "chunk") -> dict:
    rule = {"when": {"field": "LastName", "equals": "BOOM"}, "message": MESSAGE, "scope": scope}
    return {"objects": {"Contact": {"trigger_fail": [rule]}}}


def contacts(*names: str, prefix: str = "") -> list[dict]:
    return [
        {"attributes": {"type": "Contact"}, "ExtId__c": f"{prefix}{i}", "LastName": name}
        for i, name in enumerate(names)
    ]


@pytest.mark.parametrize("all_or_none", [False, True])
def test_every_record_of_the_chunk_fails_with_the_trigger_error(sandbox, all_or_none):
    sandbox.set_rules(chunk_rules())
    sf = sandbox.salesforce()

    results = sf.restful(
        URI,
        method="PATCH",
        json={"allOrNone": all_or_none, "records": contacts("Ames", "Bell", "BOOM", "Dunn")},
    )

    assert [r["success"] for r in results] == [False] * 4
    assert all(r["id"] is None for r in results)
    errors = [r["errors"] for r in results]
    assert all(e == errors[2] for e in errors), errors
    (error,) = errors[2]
    assert error["statusCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert error["message"].startswith(MESSAGE + "\n\ncaused by: ")
    assert sandbox.writes() == []


def test_record_scope_fails_only_the_matching_record(sandbox):
    sandbox.set_rules(chunk_rules(scope="record"))
    sf = sandbox.salesforce()

    results = sf.restful(URI, method="PATCH", json={"records": contacts("Ames", "BOOM", "Cole")})

    assert [r["success"] for r in results] == [True, False, True]
    assert [w["external_id"] for w in sandbox.writes()] == ["0", "2"]


def test_only_the_subrequest_holding_the_match_fails_in_a_composite(sandbox):
    sandbox.set_rules(chunk_rules())
    sf = sandbox.salesforce()
    subrequests = [
        {
            "method": "PATCH",
            "url": f"{API}/{URI}",
            "referenceId": reference_id,
            "body": {"allOrNone": False, "records": rows},
        }
        for reference_id, rows in [
            ("first", contacts("Ames", "Bell", prefix="a")),
            ("second", contacts("Cole", "BOOM", prefix="b")),
            ("third", contacts("Dunn", prefix="c")),
        ]
    ]

    items = sf.restful(
        "composite", method="POST", json={"allOrNone": False, "compositeRequest": subrequests}
    )["compositeResponse"]

    assert [[r["success"] for r in item["body"]] for item in items] == [
        [True, True],
        [False, False],
        [True],
    ]
    assert [w["external_id"] for w in sandbox.writes()] == ["a0", "a1", "c0"]
