"""Two requests with the same Idempotency-Key and body at the same moment enqueue once: both
pass the first look for the key, then wait for the account's lock; the second to get it
finds the first's answer and replays it. PostgreSQL (SQLite serializes writers itself)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client

from accounts.models import Account
from tests.conftest import lock_waiters, wait_for
from tests.intake.conftest import ndjson, outbox, post, record

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_requests_with_one_key_at_once_enqueue_once(account, token):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (DATABASE_URL=postgres://…); SQLite serializes writers itself")
    holding, release = threading.Event(), threading.Event()
    answers: list[Any] = []

    def hold_the_account() -> None:
        try:
            with transaction.atomic():
                list(Account.objects.select_for_update().filter(pk=account.pk))
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def send() -> None:
        try:
            answers.append(
                post(Client(), "acme", ndjson([record(1)]), token, **{"Idempotency-Key": "k-1"})
            )
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_account)
    holder.start()
    wait_for(holding.is_set, timeout=10, what="the account's row locked")
    senders = [threading.Thread(target=send) for _ in range(2)]
    for sender in senders:
        sender.start()
    try:
        wait_for(lambda: lock_waiters() >= 2, timeout=10, what="both requests wait for the lock")
    finally:
        release.set()
        for thread in (holder, *senders):
            thread.join(timeout=30)

    assert sorted(a.status_code for a in answers) == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.get("Idempotent-Replayed", "no") for a in answers) == ["no", "true"]
    assert outbox(account) == ["person-1"]
