"""The database builds each record's Collections JSON (fields + external id + attributes),
so a call never decodes and encodes the fields in Python: it must be the same record that
Python would send, on SQLite and on PostgreSQL (marked `concurrency`: runs in both passes)."""

from __future__ import annotations

import json

import pytest

from exports.run import payload
from tests.factories import AccountFactory
from tests.pipeline_fixtures import enqueue

pytestmark = [pytest.mark.django_db, pytest.mark.concurrency]

ITEMS = [
    {
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": "p-1",
        "fields": {"LastName": 'Zoë "Q" O\'Brien\\', "Note__c": "行\n\t✓ 😀", "Age__c": 42},
    },
    {
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": "p-2",
        # The external id field may be repeated in fields (equal to external_id).
        "fields": {"ExtId__c": "p-2", "Score__c": 1.5, "Big__c": 12345678901234567, "X": None},
    },
    {
        "sobject": "bizible2__Bizible_Touchpoint__c",
        "external_id_field": "ExtId__c",
        "external_id": "t-1",
        "fields": {"bizible2__Contact__r": {"ExtId__c": "p-1"}, "Active__c": True},
    },
    {"sobject": "Lead", "external_id_field": "Key__c", "external_id": "0042", "fields": {}},
]


def test_the_database_builds_the_record_python_would_send():
    account = AccountFactory()
    ids = enqueue(account, ITEMS)

    rows, *_ = payload.load_call(account.id, 0, None, ids, (1000, 200), 10**6)

    assert [row.key.id for row in rows] == ids
    for row, item in zip(rows, ITEMS, strict=True):
        expected = {
            **item["fields"],
            item["external_id_field"]: item["external_id"],
            "attributes": {"type": item["sobject"]},
        }
        assert json.loads(row.payload) == expected
