"""enqueue_many() streams: it pulls one chunk of items, writes it, then pulls the next.

So a stream of a million items never sits in memory as a million model objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from exports.models import ExportRecord
from exports.outbox import enqueue_many
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_items_are_pulled_one_chunk_ahead_of_each_insert():
    account = AccountFactory()
    pulled = 0
    pulled_at_insert: list[int] = []

    def items() -> Iterator[dict[str, Any]]:
        nonlocal pulled
        for n in range(10):
            pulled += 1
            yield {
                "sobject": "Contact",
                "external_id_field": "ExtId__c",
                "external_id": f"ext-{n}",
                "fields": {"LastName": str(n)},
            }

    def spy(execute, sql, params, many, context):
        if sql.startswith('INSERT INTO "exports_exportrecord"'):
            pulled_at_insert.append(pulled)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        assert enqueue_many(account, items(), chunk_size=3) == 10

    assert pulled_at_insert == [3, 6, 9, 10]
    assert [r.external_id for r in ExportRecord.objects.filter(account=account).order_by("id")] == [
        f"ext-{n}" for n in range(10)
    ]
