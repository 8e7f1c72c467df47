"""POST composite: several data subrequests (sObject Collections upserts above all) in ONE API
call, run in order; with allOrNone, rolled back together at the first failure."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from sandbox.server import SandboxOrg
from tests.sandbox_fixtures import SandboxHelper, sandbox_session

API = "/services/data/v59.0"
COLLECTION = "composite/sobjects/{sobject}/ExtId__c"
REQUIRED = {"objects": {"Contact": {"required": ["LastName"]}}}
HALTED = {
    "body": [
        {
            "errorCode": "PROCESSING_HALTED",
            "message": "The transaction was rolled back since another operation in the same"
            " transaction failed.",
        }
    ],
    "httpHeaders": {},
    "httpStatusCode": 400,
}


def records(*rows: dict, sobject: str = "Contact") -> list[dict]:
    return [{"attributes": {"type": sobject}, **row} for row in rows]


def contacts(*ext_ids: str, last_name: str = "Ames") -> list[dict]:
    return records(*({"ExtId__c": ext_id, "LastName": last_name} for ext_id in ext_ids))


def upsert(reference_id: str, rows: list[dict], all_or_none: bool = False) -> dict:
    """A Collections upsert subrequest, as the exporter sends it."""
    sobject = rows[0]["attributes"]["type"] if rows else "Contact"
    return {
        "method": "PATCH",
        "url": f"{API}/{COLLECTION.format(sobject=sobject)}",
        "referenceId": reference_id,
        "body": {"allOrNone": all_or_none, "records": rows},
    }


def query(reference_id: str, soql: str) -> dict:
    return {"method": "GET", "url": f"{API}/query?q={soql}", "referenceId": reference_id}


def composite(sf: Salesforce, subrequests: list[dict], all_or_none: bool = False) -> list[dict]:
    body = {
        "allOrNone": all_or_none,
        "collateSubrequests": False,
        "compositeRequest": subrequests,
    }
    return sf.restful("composite", method="POST", json=body)["compositeResponse"]


def ext_ids_written(sandbox) -> list[str]:
    return [w["external_id"] for w in sandbox.writes()]


def test_five_collections_run_in_order_as_one_api_call(sandbox):
    sf = sandbox.salesforce()
    batches = [
        records(*({"ExtId__c": f"c{b}-{i}", "LastName": f"B{b}"} for i in range(200)))
        for b in range(4)
    ]
    # The fifth batch updates a record of the first: it must run after it.
    batches.append(records({"ExtId__c": "c0-7", "LastName": "Later"}))

    items = composite(sf, [upsert(f"batch{b}", rows) for b, rows in enumerate(batches)])

    # One API call: Sforce-Limit-Info on the composite's response, and the limits resource.
    assert sf.api_usage["api-usage"].used == 1
    limits = sf.restful("limits")["DailyApiRequests"]
    assert limits["Max"] - limits["Remaining"] == 1
    assert [item["referenceId"] for item in items] == [f"batch{b}" for b in range(5)]
    assert [item["httpStatusCode"] for item in items] == [200] * 5
    assert all(item["httpHeaders"] == {} for item in items)
    assert [len(item["body"]) for item in items] == [200, 200, 200, 200, 1]
    first = items[0]["body"][7]
    assert first == {"id": first["id"], "success": True, "errors": [], "created": True}
    assert items[4]["body"] == [
        {"id": first["id"], "success": True, "errors": [], "created": False}
    ]
    expected = [row["ExtId__c"] for rows in batches for row in rows]
    assert ext_ids_written(sandbox) == expected
    (contact,) = sf.query("SELECT LastName FROM Contact WHERE ExtId__c = 'c0-7'")["records"]
    assert contact["LastName"] == "Later"


def test_all_or_none_false_writes_everything_but_the_rejected_record(sandbox):
    sandbox.set_rules(REQUIRED)
    sf = sandbox.salesforce()

    items = composite(
        sf,
        [
            upsert("first", contacts("a", "b")),
            upsert("second", records({"ExtId__c": "c", "LastName": "Cole"}, {"ExtId__c": "d"})),
            {
                "method": "PATCH",
                "url": f"{API}/{COLLECTION.format(sobject='Nope')}",
                "referenceId": "unknown",
                "body": {"records": []},
            },
            upsert("third", contacts("e")),
        ],
    )

    assert [item["httpStatusCode"] for item in items] == [200, 200, 404, 200]
    assert [r["success"] for r in items[1]["body"]] == [True, False]
    assert items[1]["body"][1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert items[2]["body"] == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    assert ext_ids_written(sandbox) == ["a", "b", "c", "e"]


def test_all_or_none_false_keeps_each_collections_own_all_or_none(sandbox):
    sandbox.set_rules(REQUIRED)
    sf = sandbox.salesforce()

    items = composite(
        sf,
        [
            upsert("first", contacts("a")),
            upsert(
                "second",
                records({"ExtId__c": "c", "LastName": "Cole"}, {"ExtId__c": "d"}),
                all_or_none=True,
            ),
            upsert("third", contacts("e")),
        ],
    )

    codes = [r["errors"][0]["statusCode"] for r in items[1]["body"]]
    assert codes == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "REQUIRED_FIELD_MISSING"]
    assert [items[0]["httpStatusCode"], items[2]["httpStatusCode"]] == [200, 200]
    assert ext_ids_written(sandbox) == ["a", "e"]


def test_all_or_none_true_rolls_back_every_subrequest(sandbox):
    sandbox.set_rules(REQUIRED)
    sf = sandbox.salesforce()
    (old,) = sf.restful(
        COLLECTION.format(sobject="Contact"),
        method="PATCH",
        json={"records": contacts("z", last_name="Old")},
    )
    writes_before = sandbox.writes()

    items = composite(
        sf,
        [
            upsert("first", contacts("a", "b") + contacts("z", last_name="New")),
            # Its own allOrNone is false: the composite's true overrides it.
            upsert("second", records({"ExtId__c": "c", "LastName": "Cole"}, {"ExtId__c": "d"})),
            upsert("third", contacts("e")),
        ],
        all_or_none=True,
    )

    assert items[0] == {**HALTED, "referenceId": "first"}
    assert items[2] == {**HALTED, "referenceId": "third"}
    assert items[1]["httpStatusCode"] == 200 and items[1]["referenceId"] == "second"
    rolled_back, culprit = items[1]["body"]
    assert rolled_back["success"] is False and rolled_back["id"] is None
    assert rolled_back["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert culprit["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    # Nothing of it reached the write log or SQLite.
    assert sandbox.writes() == writes_before
    rows = sf.query("SELECT Id, LastName FROM Contact")["records"]
    assert [(r["Id"], r["LastName"]) for r in rows] == [(old["id"], "Old")]
    # The external-id index forgot the rolled-back creates: upserting them creates them.
    results = sf.restful(
        COLLECTION.format(sobject="Contact"),
        method="PATCH",
        json={"records": contacts("a", "b", "z")},
    )
    assert [(r["success"], r["created"]) for r in results] == [
        (True, True),
        (True, True),
        (True, False),
    ]
    assert results[2]["id"] == old["id"]


def test_all_or_none_rollback_restores_updated_records_in_memory(sandbox):
    sandbox.set_rules(REQUIRED)
    sf = sandbox.salesforce()
    sf.restful(
        COLLECTION.format(sobject="Contact"),
        method="PATCH",
        json={"records": contacts("z", last_name="Old")},
    )

    composite(
        sf,
        [
            upsert("first", contacts("z", last_name="New")),
            upsert("bad", records({"ExtId__c": "d"})),
        ],
        all_or_none=True,
    )

    # Read from memory (sObject Rows by External ID), not from SQLite.
    assert sf.Contact.get_by_custom_id("ExtId__c", "z")["LastName"] == "Old"


def test_all_or_none_rollback_forgets_indexes_built_inside_it(sandbox):
    sandbox.set_rules(REQUIRED)
    sf = sandbox.salesforce()
    by_email = "composite/sobjects/Contact/Email__c"
    email_row = records({"Email__c": "e@x.org", "LastName": "Ames"})

    items = composite(
        sf,
        [
            upsert("create", records({"ExtId__c": "a", "Email__c": "e@x.org", "LastName": "A"})),
            # Upserting by another field builds its index from the record created above.
            {**upsert("byEmail", email_row), "url": f"{API}/{by_email}"},
            upsert("bad", records({"ExtId__c": "d"})),
        ],
        all_or_none=True,
    )

    assert items[1] == {**HALTED, "referenceId": "byEmail"}
    (result,) = sf.restful(by_email, method="PATCH", json={"records": email_row})
    assert (result["success"], result["created"]) == (True, True)


def test_all_or_none_true_stops_at_the_failed_subrequest(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(lock_rows_next=1)

    items = composite(
        sf,
        [
            query("look", "SELECT Id FROM Contact"),
            upsert("missing", records({"ExtId__c": "n", "Name": "N"}, sobject="Nope")),
            upsert("never", contacts("e")),  # would take the locked row if it ran
        ],
        all_or_none=True,
    )

    assert items[1]["httpStatusCode"] == 404
    assert items[2] == {**HALTED, "referenceId": "never"}
    assert items[0] == {**HALTED, "referenceId": "look"}
    assert sandbox.rules()["faults"]["lock_rows_next"] == 1
    assert sandbox.writes() == []


def test_all_or_none_true_commits_when_all_succeed(sandbox):
    sf = sandbox.salesforce()

    items = composite(
        sf,
        [upsert("first", contacts("a", "b")), upsert("second", contacts("c"))],
        all_or_none=True,
    )

    assert [item["httpStatusCode"] for item in items] == [200, 200]
    assert all(r["success"] and r["created"] for item in items for r in item["body"])
    assert ext_ids_written(sandbox) == ["a", "b", "c"]
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 3


@pytest.mark.parametrize("all_or_none", [False, True])
def test_lookup_to_a_parent_created_by_an_earlier_subrequest(sandbox, all_or_none):
    sandbox.set_rules({"objects": {"Contact": {"lookups": {"AccountId": "Account"}}}})
    sf = sandbox.salesforce()
    account = records({"ExtId__c": "acme", "Name": "Acme"}, sobject="Account")
    contact = records({"ExtId__c": "c1", "LastName": "Ames", "Account": {"ExtId__c": "acme"}})

    items = composite(
        sf, [upsert("accounts", account), upsert("contacts", contact)], all_or_none=all_or_none
    )

    (account_result,) = items[0]["body"]
    (contact_result,) = items[1]["body"]
    assert contact_result["success"] is True, contact_result
    (row,) = sf.query("SELECT AccountId FROM Contact WHERE ExtId__c = 'c1'")["records"]
    assert row["AccountId"] == account_result["id"]


@pytest.mark.parametrize("all_or_none", [False, True])
def test_a_query_subrequest_sees_earlier_writes(sandbox, all_or_none):
    sf = sandbox.salesforce()

    # With allOrNone the write is not committed yet when the query runs.
    items = composite(
        sf,
        [upsert("write", contacts("a")), query("read", "SELECT ExtId__c FROM Contact")],
        all_or_none=all_or_none,
    )

    assert [r["ExtId__c"] for r in items[1]["body"]["records"]] == ["a"]
    assert ext_ids_written(sandbox) == ["a"]


def test_a_failed_all_or_none_composite_leaves_no_trace_of_what_it_read(sandbox):
    sf = sandbox.salesforce()

    # The query reads the uncommitted write of "c" (inside a SQLite transaction it undoes).
    items = composite(
        sf,
        [
            upsert("write", contacts("c")),
            query("read", "SELECT ExtId__c FROM Contact"),
            {"method": "GET", "url": f"{API}/query?q=SELECT Id FROM Nope", "referenceId": "bad"},
        ],
        all_or_none=True,
    )

    assert items[2]["httpStatusCode"] == 400
    assert items[2]["body"][0]["errorCode"] == "INVALID_TYPE"
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 0
    assert sandbox.writes() == []


def test_fail_next_fails_the_whole_composite_once(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(fail_next=1, fail_status=503)
    subrequests = [upsert("first", contacts("a")), upsert("second", contacts("b"))]

    with pytest.raises(SalesforceGeneralError) as caught:
        composite(sf, subrequests)

    assert caught.value.status == 503
    assert caught.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sandbox.writes() == []
    items = composite(sf, subrequests)
    assert [item["httpStatusCode"] for item in items] == [200, 200]
    assert ext_ids_written(sandbox) == ["a", "b"]


# -- a bad composite is a 400 with Salesforce's error array, and runs nothing ---------------


@pytest.fixture
def post(sandbox):
    token = sandbox.login()["access_token"]

    def send(body=None, data=None):
        response = sandbox.session.post(
            f"{sandbox.url}{API}/composite",
            headers={"Authorization": f"Bearer {token}"},
            json=body,
            data=data,
        )
        assert response.headers["Content-Type"].startswith("application/json")
        assert "Traceback" not in response.text
        return response

    return send


def bad_request(response, error_code: str) -> str:
    assert response.status_code == 400, response.text
    (error,) = response.json()
    assert error["errorCode"] == error_code, error
    return error["message"]


@pytest.mark.parametrize(
    ("extra", "counted"),
    [
        ([upsert("batch5", contacts("f"))], 6),
        ([query("look", "SELECT Id FROM Contact")], 6),
    ],
    ids=["six-collections", "five-collections-and-a-query"],
)
def test_more_than_five_collections_or_queries_is_400(sandbox, post, extra, counted):
    subrequests = [upsert(f"batch{b}", contacts(f"c{b}")) for b in range(5)] + extra

    message = bad_request(post({"compositeRequest": subrequests}), "LIMIT_EXCEEDED")

    assert "more than 5 sObject Collections or query operations" in message
    assert f"(it has {counted})" in message
    assert sandbox.writes() == []


def test_five_collections_and_other_subrequests_are_accepted(post):
    subrequests = [upsert(f"batch{b}", contacts(f"c{b}")) for b in range(5)]
    subrequests += [{"method": "GET", "url": f"{API}/limits", "referenceId": "limits"}]

    response = post({"compositeRequest": subrequests})

    assert response.status_code == 200
    assert [i["httpStatusCode"] for i in response.json()["compositeResponse"]] == [200] * 6


def test_more_than_25_subrequests_is_400(sandbox, post):
    subrequests = [upsert("batch0", contacts("a"))]
    subrequests += [
        {"method": "GET", "url": f"{API}/limits", "referenceId": f"r{i}"} for i in range(25)
    ]

    message = bad_request(post({"compositeRequest": subrequests}), "LIMIT_EXCEEDED")

    assert message == "The request can’t contain more than 25 operations."
    assert sandbox.writes() == []


@pytest.mark.parametrize(
    "reference_ids",
    [["batch-0"], ["batch 0"], [""], ["é"], ["batch0", "batch0"]],
    ids=["hyphen", "space", "empty", "non-ascii", "duplicate"],
)
def test_bad_reference_id_is_400(sandbox, post, reference_ids):
    subrequests = [upsert(ref, contacts(f"c{i}")) for i, ref in enumerate(reference_ids)]

    bad_request(post({"compositeRequest": subrequests}), "INVALID_API_INPUT")

    assert sandbox.writes() == []


@pytest.mark.parametrize(
    "url",
    [
        "/services/data/v58.0/composite/sobjects/Contact/ExtId__c",
        "/composite/sobjects/Contact/ExtId__c",
        "https://example.com/services/data/v59.0/composite/sobjects/Contact/ExtId__c",
        f"{API}/composite",
    ],
    ids=["other-version", "no-prefix", "absolute", "nested-composite"],
)
def test_a_subrequest_url_outside_this_version_is_400(sandbox, post, url):
    subrequest = {**upsert("batch0", contacts("a")), "url": url}

    bad_request(post({"compositeRequest": [subrequest]}), "INVALID_API_INPUT")

    assert sandbox.writes() == []


def test_malformed_json_is_json_parser_error(post):
    message = bad_request(post(data=b'{"compositeRequest": ['), "JSON_PARSER_ERROR")

    assert "line:1" in message


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        {"compositeRequest": []},
        {"compositeRequest": {"method": "GET"}},
        {"compositeRequest": ["GET /limits"]},
        {"compositeRequest": [{"url": f"{API}/limits", "referenceId": "r"}]},
        {"compositeRequest": [{"method": "GET", "referenceId": "r"}]},
        {"compositeRequest": [{"method": "GET", "url": f"{API}/limits"}]},
        {"compositeRequest": [{"method": "GET", "url": f"{API}/limits", "referenceId": 7}]},
        {"allOrNone": "yes", "compositeRequest": [query("r", "SELECT Id FROM Contact")]},
        {"collateSubrequests": 1, "compositeRequest": [query("r", "SELECT Id FROM Contact")]},
    ],
    ids=[
        "list",
        "empty-object",
        "no-subrequests",
        "not-a-list",
        "not-an-object",
        "no-method",
        "no-url",
        "no-reference-id",
        "reference-id-not-a-string",
        "all-or-none-not-boolean",
        "collate-not-boolean",
    ],
)
def test_a_malformed_composite_is_json_parser_error(post, body):
    bad_request(post(body), "JSON_PARSER_ERROR")


def test_a_malformed_collections_subrequest_answers_its_own_400(sandbox, post):
    subrequest = {**upsert("batch0", contacts("a")), "body": {"records": "nope"}}

    response = post({"compositeRequest": [subrequest, upsert("batch1", contacts("b"))]})

    assert response.status_code == 200
    first, second = response.json()["compositeResponse"]
    assert first["httpStatusCode"] == 400
    assert first["body"][0]["errorCode"] == "JSON_PARSER_ERROR"
    assert second["httpStatusCode"] == 200
    assert ext_ids_written(sandbox) == ["b"]


def test_a_composite_over_the_daily_limit_is_refused_whole(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(api_daily_limit=0)

    with pytest.raises(SalesforceRefusedRequest) as caught:
        composite(sf, [upsert("first", contacts("a"))])

    assert caught.value.status == 403
    assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert sandbox.writes() == []


def test_rejects_get(sandbox):
    sf = sandbox.salesforce()

    with pytest.raises(SalesforceGeneralError) as caught:
        sf.restful("composite", method="GET")

    assert caught.value.status == 405


def test_restart_after_a_rolled_back_composite_shows_nothing_of_it(tmp_path):
    org = SandboxOrg(tmp_path, rules=REQUIRED).start()
    try:
        sf = SandboxHelper(org).salesforce()
        kept = composite(sf, [upsert("kept", contacts("k"))], all_or_none=True)
        assert kept[0]["body"][0]["success"] is True
        items = composite(
            sf,
            [
                upsert("first", contacts("a") + contacts("k", last_name="Changed")),
                upsert("second", records({"ExtId__c": "d"})),
            ],
            all_or_none=True,
        )
        assert items[0] == {**HALTED, "referenceId": "first"}
    finally:
        org.stop()

    org = SandboxOrg(tmp_path, port=org.requested_port, rules=REQUIRED).start()
    try:
        sf = Salesforce(
            instance_url=org.url, session_id=sf.session_id, session=sandbox_session(org.ca_path)
        )
        rows = sf.query("SELECT ExtId__c, LastName FROM Contact")["records"]
        assert [(r["ExtId__c"], r["LastName"]) for r in rows] == [("k", "Ames")]
        writes = SandboxHelper(org).writes()
        assert [(w["external_id"], w["created"]) for w in writes] == [("k", True)]
        (created,) = sf.restful(
            COLLECTION.format(sobject="Contact"), method="PATCH", json={"records": contacts("a")}
        )
        assert (created["success"], created["created"]) == (True, True)
    finally:
        org.stop()


def test_malformed_request_raises_for_simple_salesforce_too(sandbox):
    sf = sandbox.salesforce()

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite", method="POST", json={"compositeRequest": []})

    assert caught.value.content[0]["errorCode"] == "JSON_PARSER_ERROR"
