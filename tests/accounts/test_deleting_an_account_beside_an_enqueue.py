"""Deleting an account while an enqueue of it is in flight leaves no record behind: the
records' account has no foreign key constraint in the database, so the deletion locks the
account before collecting its rows. The enqueue in flight commits first and its records go
with the account (through `Account.delete()` and a queryset's `delete()` alike); an enqueue
after the deletion finds no account and writes nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, transaction

from accounts.models import Account
from exports.models import ExportRecord
from exports.outbox import enqueue
from tests.conftest import lock_waiters, wait_for
from tests.factories import AccountFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as exc:  # noqa: BLE001 - the test asserts on it
            outcome.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("how", ["instance", "queryset"])
def test_an_enqueue_in_flight_commits_first_and_its_records_go_with_the_account(how):
    account = AccountFactory(slug="leaving")
    enqueue(account, "Contact", "ExtId__c", "before", {"LastName": "Before"})
    enqueued, commit = threading.Event(), threading.Event()

    def enqueue_and_hold() -> int:
        with transaction.atomic():
            enqueue(account, "Contact", "ExtId__c", "in-flight", {"LastName": "In flight"})
            enqueued.set()
            commit.wait(30)
        return 1

    def delete() -> Any:
        if how == "instance":
            return Account.objects.get(pk=account.pk).delete()
        return Account.objects.filter(slug="leaving").delete()

    writer, _ = in_thread(enqueue_and_hold)
    assert enqueued.wait(30)
    deleter, deleted = in_thread(delete)
    wait_for(lambda: lock_waiters() >= 1, what="the deletion waiting for the enqueue's lock")
    commit.set()
    writer.join(30)
    deleter.join(30)

    assert not isinstance(deleted[0], Exception), deleted
    assert not Account.objects.filter(pk=account.pk).exists()
    assert not ExportRecord.objects.filter(account_id=account.pk).exists()  # none left behind
    with pytest.raises(Account.DoesNotExist):
        enqueue(Account(pk=account.pk), "Contact", "ExtId__c", "after", {"LastName": "After"})
    assert not ExportRecord.objects.filter(account_id=account.pk).exists()
