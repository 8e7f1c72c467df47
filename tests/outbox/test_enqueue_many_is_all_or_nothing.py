"""enqueue_many() writes every item in the given order, or nothing when any item is bad."""

from __future__ import annotations

from typing import Any

import pytest

from exports.models import ExportRecord
from exports.outbox import InvalidRecord, enqueue, enqueue_many
from tests.factories import AccountFactory, ExportRecordFactory

pytestmark = pytest.mark.django_db


def item(n: int, sobject: str = "Contact") -> dict[str, Any]:
    return {
        "sobject": sobject,
        "external_id_field": "ExtId__c",
        "external_id": f"ext-{n}",
        "fields": {"LastName": f"Person {n}"},
    }


def test_items_are_written_in_the_order_given_across_object_types():
    account = AccountFactory()
    items = [item(1), item(2, "bizible2__Bizible_Touchpoint__c"), item(3), item(4, "Lead")]

    assert enqueue_many(account, items) == 4

    written = list(ExportRecord.objects.filter(account=account).order_by("id"))
    assert [(r.sobject, r.external_id) for r in written] == [
        ("Contact", "ext-1"),
        ("bizible2__Bizible_Touchpoint__c", "ext-2"),
        ("Contact", "ext-3"),
        ("Lead", "ext-4"),
    ]
    assert written[0].fields == {"LastName": "Person 1"}


def test_a_bad_item_writes_nothing_and_names_its_position():
    account = AccountFactory()
    items = [item(1), item(2), item(3), {**item(4), "external_id": ""}, item(5)]

    with pytest.raises(InvalidRecord) as excinfo:
        enqueue_many(account, items)

    assert excinfo.value.line == 4
    assert str(excinfo.value).startswith("line 4: external_id is empty")
    assert not ExportRecord.objects.filter(account=account).exists()


def test_a_bad_item_after_written_chunks_rolls_them_back():
    account = AccountFactory()
    earlier = ExportRecordFactory(account=account)
    items = [item(n) for n in range(1, 8)] + [{**item(8), "sobject": "Bad Name"}]

    with pytest.raises(InvalidRecord) as excinfo:
        enqueue_many(account, iter(items), chunk_size=3)

    assert excinfo.value.line == 8
    assert list(ExportRecord.objects.filter(account=account)) == [earlier]


def test_enqueue_one_record_returns_the_saved_row():
    account = AccountFactory()

    saved = enqueue(account, "Contact", "ExtId__c", 17, {"LastName": "Hopper"})

    row = ExportRecord.objects.get(pk=saved.pk)
    assert (row.account_id, row.sobject, row.external_id, row.fields) == (
        account.pk,
        "Contact",
        "17",
        {"LastName": "Hopper"},
    )


def test_enqueue_one_invalid_record_writes_nothing():
    account = AccountFactory()

    with pytest.raises(InvalidRecord, match="fields.Tags__c is a list"):
        enqueue(account, "Contact", "ExtId__c", "p-1", {"Tags__c": ["a"]})

    assert not ExportRecord.objects.filter(account=account).exists()
