"""Collections deletes inside a Composite request: mixed with upserts, applied in order, and
rolled back with them when an allOrNone Composite fails."""

from __future__ import annotations

import pytest

from tests.sandbox.delete_helpers import (
    HALTED,
    UNKNOWN_ID,
    composite,
    delete_subrequest,
    ext_ids,
    failed,
    logged,
    ok,
    rows,
    upsert,
    upsert_subrequest,
)

REQUIRED = {"objects": {"Contact": {"required": ["LastName"]}}}


def test_a_delete_subrequest_answers_200_with_the_delete_results(sandbox):
    sf = sandbox.salesforce()
    (k,) = upsert(sf, "k")
    before = sf.api_usage["api-usage"].used

    (item,) = composite(sf, [delete_subrequest("drop", [k, UNKNOWN_ID])])

    assert item["referenceId"] == "drop"
    assert item["httpStatusCode"] == 200
    assert item["body"] == [
        ok(k),
        failed(UNKNOWN_ID, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"),
    ]
    assert sf.api_usage["api-usage"].used == before + 1
    assert ext_ids(sf) == []


def test_upserts_and_deletes_apply_in_the_order_sent(sandbox):
    sf = sandbox.salesforce()
    (first,) = composite(sf, [upsert_subrequest("add", rows("k", LastName="Ames"))])
    k = first["body"][0]["id"]

    items = composite(
        sf,
        [
            upsert_subrequest("update", rows("k", LastName="Bell")),
            delete_subrequest("drop", [k]),
            upsert_subrequest("again", rows("k", LastName="Cole")),
        ],
    )

    assert [item["httpStatusCode"] for item in items] == [200, 200, 200]
    (updated,), dropped, (again,) = (item["body"] for item in items)
    assert (updated["id"], updated["created"]) == (k, False)
    assert dropped == [ok(k)]
    assert again["created"] is True and again["id"] != k
    found = sf.query("SELECT Id, LastName FROM Contact")["records"]
    assert [(r["Id"], r["LastName"]) for r in found] == [(again["id"], "Cole")]
    assert logged(sandbox) == [
        ("upsert", "k"),
        ("upsert", "k"),
        ("delete", "k"),
        ("upsert", "k"),
    ]


@pytest.mark.parametrize(
    "failing",
    [
        delete_subrequest("fails", [UNKNOWN_ID]),
        upsert_subrequest("fails", rows("n", LastName="")),  # required LastName is blank
    ],
    ids=["a delete fails", "an upsert fails"],
)
def test_all_or_none_rolls_back_deletes_and_upserts_together(sandbox, failing):
    sandbox.set_rules(REQUIRED)
    sf = sandbox.salesforce()
    a, b = upsert(sf, "a", "b")
    log_before = sandbox.writes()

    items = composite(
        sf,
        [
            delete_subrequest("drop", [a]),
            upsert_subrequest("add", rows("c")),
            failing,
            delete_subrequest("later", [b]),
        ],
        all_or_none=True,
    )

    assert [item["body"] for item in items[:2]] == [HALTED, HALTED]
    assert items[3]["body"] == HALTED
    assert items[2]["httpStatusCode"] == 200
    assert items[2]["body"][0]["success"] is False
    assert ext_ids(sf) == ["a", "b"]
    assert sandbox.writes() == log_before
    assert sandbox.stats()["records_deleted"] == 0
    # the rolled-back delete left the record as it was: found by external id, deletable
    assert sf.Contact.get(a)["ExtId__c"] == "a"
    assert sf.Contact.delete(a) == 204
    (again,) = composite(sf, [upsert_subrequest("add", rows("b"))])
    assert again["body"][0]["id"] == b


def test_a_delete_subrequest_with_its_own_all_or_none_in_a_plain_composite(sandbox):
    sf = sandbox.salesforce()
    a, b = upsert(sf, "a", "b")

    items = composite(
        sf,
        [
            delete_subrequest("strict", [a, UNKNOWN_ID], all_or_none=True),
            delete_subrequest("loose", [b, UNKNOWN_ID], all_or_none=False),
        ],
    )

    assert [[r["success"] for r in item["body"]] for item in items] == [
        [False, False],
        [True, False],
    ]
    assert ext_ids(sf) == ["a"]


def test_a_single_delete_subrequest_answers_204_with_no_body(sandbox):
    sf = sandbox.salesforce()
    (a,) = upsert(sf, "a")
    url = "/services/data/v59.0/sobjects/Contact"

    items = composite(
        sf,
        [
            {"method": "DELETE", "url": f"{url}/{a}", "referenceId": "byId"},
            {"method": "DELETE", "url": f"{url}/{a}", "referenceId": "again"},
        ],
    )

    assert [(item["httpStatusCode"], item["body"]) for item in items] == [
        (204, None),
        (404, [{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED"}]),
    ]
