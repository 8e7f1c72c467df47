"""DELETE composite/sobjects?ids=...: one DeleteResult per id in the order given, ids of any
objects, allOrNone or not; absent records answer as a real org's do."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.ids import make_id
from tests.sandbox.delete_helpers import UNKNOWN_ID, delete, ext_ids, failed, ok, upsert

ROLLED_BACK = (
    "Record rolled back because not all records were valid and the request was using AllOrNone"
    " header"
)


def test_deletes_the_records_named_in_any_order_and_of_any_object(sandbox):
    sf = sandbox.salesforce()
    a, b, c = upsert(sf, "a", "b", "c")
    (acme,) = upsert(sf, "acme", sobject="Account", Name="Acme")

    results = delete(sf, [c, acme, a])

    assert results == [ok(c), ok(acme), ok(a)]
    assert ext_ids(sf) == ["b"]
    assert ext_ids(sf, "Account") == []
    assert sf.query(f"SELECT Id FROM Contact WHERE Id = '{a}'")["totalSize"] == 0


def test_a_15_character_id_deletes_and_answers_the_18_character_id(sandbox):
    sf = sandbox.salesforce()
    (a,) = upsert(sf, "a")

    assert delete(sf, [a[:15]]) == [ok(a)]
    assert ext_ids(sf) == []


def test_all_or_none_false_deletes_the_good_ones_and_fails_the_others(sandbox):
    sf = sandbox.salesforce()
    a, b = upsert(sf, "a", "b")

    results = delete(sf, [a, "not-an-id", UNKNOWN_ID, b], all_or_none=False)

    assert results == [
        ok(a),
        failed(None, "MALFORMED_ID", "malformed id not-an-id"),
        failed(UNKNOWN_ID, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"),
        ok(b),
    ]
    assert ext_ids(sf) == []


def test_all_or_none_true_rolls_back_every_record_when_one_fails(sandbox):
    sf = sandbox.salesforce()
    a, b = upsert(sf, "a", "b")

    results = delete(sf, [a, UNKNOWN_ID, b], all_or_none=True)

    assert results == [
        failed(a, "ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK),
        failed(UNKNOWN_ID, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"),
        failed(b, "ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK),
    ]
    assert ext_ids(sf) == ["a", "b"]
    assert [w["op"] for w in sandbox.writes()] == ["upsert", "upsert"]
    assert delete(sf, [a, b], all_or_none=True) == [ok(a), ok(b)]


def test_a_deleted_record_answers_entity_is_deleted(sandbox):
    sf = sandbox.salesforce()
    a, b = upsert(sf, "a", "b")
    delete(sf, [a])

    results = delete(sf, [a, b])

    assert results == [failed(a, "ENTITY_IS_DELETED", "entity is deleted"), ok(b)]


def test_the_same_id_twice_fails_both(sandbox):
    sf = sandbox.salesforce()
    (a,) = upsert(sf, "a")

    results = delete(sf, [a, a])

    assert results == [failed(a, "DUPLICATE_VALUE", f"Duplicate id in list: {a}")] * 2
    assert ext_ids(sf) == ["a"]


def test_an_18_character_id_with_a_wrong_checksum_is_malformed(sandbox):
    sf = sandbox.salesforce()
    (a,) = upsert(sf, "a")
    wrong = a[:15] + ("AAA" if a[15:] != "AAA" else "AAB")

    assert delete(sf, [wrong]) == [failed(None, "MALFORMED_ID", f"malformed id {wrong}")]
    assert ext_ids(sf) == ["a"]


def test_more_than_200_ids_is_refused_as_a_whole(sandbox):
    sf = sandbox.salesforce()
    (a,) = upsert(sf, "a")
    unknown = [make_id("Contact", 10_000 + i) for i in range(200)]

    with pytest.raises(SalesforceMalformedRequest) as refused:
        delete(sf, [a, *unknown])

    (error,) = refused.value.content
    assert refused.value.status == 400
    assert error["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert ext_ids(sf) == ["a"]
    results = delete(sf, unknown[:199] + [a])  # 200 ids are allowed
    assert results[-1] == ok(a)


@pytest.mark.parametrize(
    ("params", "code"),
    [({}, "MISSING_ARGUMENT"), ({"ids": "x", "allOrNone": "maybe"}, "INVALID_QUERY_PARAMETER")],
)
def test_a_request_without_ids_or_with_a_bad_flag_is_a_400(sandbox, params, code):
    sf = sandbox.salesforce()

    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.restful("composite/sobjects", method="DELETE", params=params)

    assert refused.value.content[0]["errorCode"] == code


def test_each_delete_is_one_api_call(sandbox):
    sf = sandbox.salesforce()
    a, b = upsert(sf, "a", "b")
    before = sf.api_usage["api-usage"].used

    delete(sf, [a])
    delete(sf, [b, UNKNOWN_ID])

    assert sf.api_usage["api-usage"].used == before + 2
