"""A whole request refused for one record's sake is split in halves until that record is found."""

from __future__ import annotations

from typing import Any

from salesforce.client import Gateway
from tests.salesforce.conftest import contacts


def _batch_with_unknown_field_at(position: int, size: int) -> list[dict[str, Any]]:
    records = contacts(*(f"p-{i}" for i in range(size)))
    records[position] = {**records[position], "Nickname__c": "Bob"}
    return records


def test_partial_success_names_the_guilty_record_and_writes_the_rest_once(
    gateway: Gateway, sandbox: Any
) -> None:
    records = _batch_with_unknown_field_at(5, size=8)

    results = gateway.upsert_collection("Contact", "ExtId__c", records, all_or_none=False)

    assert [r.ok for r in results] == [True] * 5 + [False] + [True] * 2
    guilty = results[5]
    assert guilty.error_code == "INVALID_FIELD"
    assert "Nickname__c" in guilty.message
    assert not guilty.rolled_back and not guilty.transient
    written = [w["external_id"] for w in sandbox.writes()]
    assert sorted(written) == sorted(f"p-{i}" for i in range(8) if i != 5)
    # 8 → [0-3] ok, so [4-7] holds the culprit: split at once → [4-5] refused → [4] ok, so
    # [5] is sent alone: refused; [6-7] ok
    assert gateway.api_calls == 6


def test_all_or_none_writes_up_to_the_guilty_record_and_sends_nothing_after(
    gateway: Gateway, sandbox: Any
) -> None:
    records = _batch_with_unknown_field_at(5, size=8)

    results = gateway.upsert_collection("Contact", "ExtId__c", records, all_or_none=True)

    assert [r.ok for r in results] == [True] * 5 + [False] * 3
    assert results[5].error_code == "INVALID_FIELD" and not results[5].rolled_back
    assert all(r.rolled_back for r in results[6:])
    assert [w["external_id"] for w in sandbox.writes()] == [f"p-{i}" for i in range(5)]
    # 8 refused → [0-3] ok, so [4-7] holds the culprit: split at once → [4-5] refused →
    # [4] ok, [5] refused alone; [6-7] never sent
    assert gateway.api_calls == 5


def test_a_single_refused_record_is_a_rejection_not_an_exception(gateway: Gateway) -> None:
    records = _batch_with_unknown_field_at(0, size=1)

    [result] = gateway.upsert_collection("Contact", "ExtId__c", records, all_or_none=True)

    assert not result.ok and result.error_code == "INVALID_FIELD"
    assert gateway.api_calls == 1


def test_an_unknown_external_id_field_refuses_every_record_in_one_call(gateway: Gateway) -> None:
    records = [{"Nope__c": f"p-{i}", "LastName": "X"} for i in range(4)]

    results = gateway.upsert_collection("Contact", "Nope__c", records, all_or_none=False)

    assert {(r.ok, r.error_code, r.rolled_back) for r in results} == {(False, "NOT_FOUND", False)}
    assert len(results) == 4
    assert gateway.api_calls == 1


def test_an_unknown_external_id_field_with_all_or_none_blames_the_first(gateway: Gateway) -> None:
    records = [{"Nope__c": f"p-{i}", "LastName": "X"} for i in range(4)]

    results = gateway.upsert_collection("Contact", "Nope__c", records, all_or_none=True)

    assert [(r.error_code, r.rolled_back) for r in results] == [("NOT_FOUND", False)] + [
        ("ALL_OR_NONE_OPERATION_ROLLED_BACK", True)
    ] * 3
