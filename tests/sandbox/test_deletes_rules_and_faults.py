"""`delete_fail` rules refuse deletes (a record, or its whole chunk); faults and the Apex CPU
limit apply to deletes as to upserts."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceError, SalesforceMalformedRequest

from tests.sandbox.delete_helpers import (
    HALTED,
    composite,
    delete,
    delete_subrequest,
    ext_ids,
    failed,
    logged,
    ok,
    rows,
    upsert,
    upsert_subrequest,
)

MESSAGE = "Contacts of a locked account cannot be deleted"
CPU_MESSAGE = "ContactTrigger: System.LimitException: Apex CPU time limit exceeded"


def delete_fail(**entry) -> dict:
    rule = {"when": {"field": "Type__c", "equals": "Locked"}, "message": MESSAGE, **entry}
    return {"objects": {"Contact": {"delete_fail": [rule]}}}


def test_a_matching_record_is_refused_with_delete_failed_by_default(sandbox):
    sandbox.set_rules(delete_fail())
    sf = sandbox.salesforce()
    a, locked, b = upsert(sf, "a", "locked", "b")
    upsert(sf, "locked", Type__c="Locked")

    results = delete(sf, [a, locked, b])

    assert results == [ok(a), failed(locked, "DELETE_FAILED", MESSAGE), ok(b)]
    assert ext_ids(sf) == ["locked"]


def test_the_rule_reads_the_stored_record_and_may_name_its_code(sandbox):
    sandbox.set_rules(delete_fail(code="FIELD_CUSTOM_VALIDATION_EXCEPTION"))
    sf = sandbox.salesforce()
    (a,) = upsert(sf, "a", Type__c="Locked")
    upsert(sf, "a", Type__c="Open")  # no longer matches
    (b,) = upsert(sf, "b", Type__c="Locked")

    results = delete(sf, [a, b])

    assert results == [ok(a), failed(b, "FIELD_CUSTOM_VALIDATION_EXCEPTION", MESSAGE)]


@pytest.mark.parametrize("all_or_none", [False, True])
def test_chunk_scope_fails_every_record_of_the_request(sandbox, all_or_none):
    sandbox.set_rules(delete_fail(scope="chunk"))
    sf = sandbox.salesforce()
    a, b = upsert(sf, "a", "b")
    (locked,) = upsert(sf, "locked", Type__c="Locked")

    results = delete(sf, [a, locked, b], all_or_none=all_or_none)

    assert results == [failed(i, "DELETE_FAILED", MESSAGE) for i in (a, locked, b)]
    assert ext_ids(sf) == ["a", "b", "locked"]
    assert "delete" not in {op for op, _ in logged(sandbox)}


def test_chunk_scope_takes_only_its_own_subrequest_of_a_composite(sandbox):
    sandbox.set_rules(delete_fail(scope="chunk"))
    sf = sandbox.salesforce()
    a, b = upsert(sf, "a", "b")
    (locked,) = upsert(sf, "locked", Type__c="Locked")

    items = composite(sf, [delete_subrequest("first", [a, locked]), delete_subrequest("next", [b])])

    assert [item["body"] for item in items] == [
        [failed(a, "DELETE_FAILED", MESSAGE), failed(locked, "DELETE_FAILED", MESSAGE)],
        [ok(b)],
    ]
    assert ext_ids(sf) == ["a", "locked"]


def test_a_refused_single_delete_is_a_400_with_the_rule_error(sandbox):
    sandbox.set_rules(delete_fail())
    sf = sandbox.salesforce()
    (locked,) = upsert(sf, "locked", Type__c="Locked")

    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Contact.delete(locked)

    assert refused.value.content == [
        {"message": MESSAGE, "errorCode": "DELETE_FAILED", "fields": []}
    ]
    assert ext_ids(sf) == ["locked"]


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({"message": "x", "code": "delete failed"}, "objects.Contact.delete_fail[0].code"),
        ({"message": "x", "scope": "batch"}, "objects.Contact.delete_fail[0].scope"),
        ({"code": "DELETE_FAILED"}, "missing required key 'message'"),
        ({"message": "x", "when": {"field": "Type__c"}}, "objects.Contact.delete_fail[0].when"),
        ({"message": "x", "on": "delete"}, "unknown key 'on'"),
    ],
)
def test_bad_delete_fail_entries_are_refused(sandbox, entry, named):
    response = sandbox.session.put(
        f"{sandbox.url}/sandbox/rules",
        json={"objects": {"Contact": {"delete_fail": [entry]}}},
        timeout=15,
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_rules"
    assert named in response.json()["message"]


def test_delete_fail_must_be_a_list_of_fields_the_object_has(sandbox):
    put = sandbox.session.put
    not_a_list = put(
        f"{sandbox.url}/sandbox/rules",
        json={"objects": {"Contact": {"delete_fail": {"message": "x"}}}},
        timeout=15,
    )
    unlisted = put(
        f"{sandbox.url}/sandbox/rules",
        json={
            "objects": {"Contact": {"fields": ["LastName"], **delete_fail()["objects"]["Contact"]}}
        },
        timeout=15,
    )

    assert not_a_list.status_code == 400
    assert "objects.Contact.delete_fail: expected a JSON list" in not_a_list.json()["message"]
    assert unlisted.status_code == 400
    assert "delete_fail names field 'Type__c'" in unlisted.json()["message"]


def test_rules_with_delete_fail_read_back_as_set(sandbox):
    rules = delete_fail(scope="chunk", code="DELETE_FAILED")

    assert sandbox.set_rules(rules)["objects"] == rules["objects"]


def test_faults_apply_to_deletes(sandbox):
    sf = sandbox.salesforce()
    a, b, c = upsert(sf, "a", "b", "c")
    sandbox.set_faults(fail_next=1, fail_status=503, lock_rows_next=1)

    with pytest.raises(SalesforceError) as unavailable:
        delete(sf, [a])
    results = delete(sf, [a, b])

    assert unavailable.value.status == 503
    assert results == [
        failed(a, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"),
        ok(b),
    ]
    sandbox.set_faults(lock_rows_next=1, lock_wrapped=True)
    (wrapped,) = delete(sf, [c])
    assert wrapped["errors"][0]["statusCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert "execution of AfterDelete" in wrapped["errors"][0]["message"]
    assert (
        f"UNABLE_TO_LOCK_ROW, unable to obtain exclusive access to this record or 1 records: {c}"
        in wrapped["errors"][0]["message"]
    )


def test_deletes_count_against_the_daily_api_limit(sandbox):
    sf = sandbox.salesforce()
    (a,) = upsert(sf, "a")
    sandbox.set_faults(api_daily_limit=sf.api_usage["api-usage"].used)

    with pytest.raises(SalesforceError) as refused:
        delete(sf, [a])

    assert refused.value.status == 403
    assert refused.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_deleted_records_cost_cpu_time(sandbox):
    sandbox.set_rules(
        {
            "objects": {"Contact": {"cpu_ms_per_record": 10}},
            "faults": {"cpu_limit_ms": 25, "server_time_scale": 0},
        }
    )
    sf = sandbox.salesforce()
    a, b = upsert(sf, "a", "b")  # 20 ms
    (c,) = upsert(sf, "c")  # 10 ms: its own transaction

    too_many = delete(sf, [a, b, c])  # 30 ms > 25 ms
    items = composite(  # one transaction: 10 ms upsert + 20 ms delete
        sf,
        [upsert_subrequest("add", rows("d")), delete_subrequest("drop", [a, b])],
        all_or_none=True,
    )

    assert too_many == [
        failed(i, "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", CPU_MESSAGE) for i in (a, b, c)
    ]
    assert items[0]["body"] == HALTED
    assert items[1]["body"] == [
        failed(i, "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", CPU_MESSAGE) for i in (a, b)
    ]
    assert ext_ids(sf) == ["a", "b", "c"]
    assert delete(sf, [a, b]) == [ok(a), ok(b)]  # 20 ms
