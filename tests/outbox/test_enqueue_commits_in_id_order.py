"""Enqueues of one account wait for each other, so its ids become visible in order.

Without this, a long enqueue holding ids 1–1000 uncommitted while a short one commits
id 1001 would let an export run move the cursor past 1001, and records 1–1000 would
never be exported. SQLite serializes all writers anyway; PostgreSQL needs the row lock.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction

from exports.models import ExportRecord
from exports.outbox import enqueue, enqueue_many
from tests.conftest import lock_waiters, wait_for
from tests.factories import AccountFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def item(n: int) -> dict[str, Any]:
    return {
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": f"p-{n}",
        "fields": {},
    }


def test_a_second_enqueue_waits_until_the_first_commits():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (DATABASE_URL=postgres://…); SQLite serializes writers itself")
    account = AccountFactory()
    first_holding, release_first = threading.Event(), threading.Event()
    second_done = threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                enqueue(account, "Contact", "ExtId__c", "first", {})
                first_holding.set()
                release_first.wait(timeout=30)
        finally:
            connection.close()

    def second() -> None:
        try:
            enqueue_many(account, [item(1), item(2)])
            second_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    wait_for(first_holding.is_set, timeout=10)
    threads[1].start()
    try:
        wait_for(lambda: lock_waiters() >= 1, timeout=10)
        assert not second_done.is_set()
    finally:
        release_first.set()
        for thread in threads:
            thread.join(timeout=30)

    assert second_done.is_set()
    ids = dict(ExportRecord.objects.filter(account=account).values_list("external_id", "id"))
    assert ids["first"] < ids["p-1"] < ids["p-2"]
