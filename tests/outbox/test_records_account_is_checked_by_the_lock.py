"""The records' account has no foreign key constraint in the database (its check of every
record at commit was a fifth of PostgreSQL's work for an enqueue): every enqueue locks the
account's row first and refuses an account that does not exist, writing nothing, and
Django deletes an account's records with it."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import Account
from exports.mapping.capture import Plan, apply
from exports.models import ExportRecord
from exports.outbox import enqueue, enqueue_many
from tests.conftest import account_constraints
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)  # migrates back and forth


def item(n: int) -> dict[str, Any]:
    return {
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": f"ext-{n}",
        "fields": {"LastName": f"Person {n}"},
    }


def test_an_account_that_does_not_exist_is_refused_by_every_way_in_and_nothing_is_written():
    gone = AccountFactory()
    gone_pk = gone.pk
    gone.delete()
    missing = Account(pk=gone_pk)
    plan = Plan()
    plan.add(gone_pk, item(3))

    with pytest.raises(Account.DoesNotExist, match=f"account {gone_pk} does not exist"):
        enqueue(missing, "Contact", "ExtId__c", "ext-1", {"LastName": "One"})
    with pytest.raises(Account.DoesNotExist):
        enqueue_many(missing, [item(2)])
    with pytest.raises(Account.DoesNotExist):
        apply(plan)  # the mapping's way: records made ready before the transaction

    assert not ExportRecord.objects.filter(account_id=gone_pk).exists()


def test_records_have_no_account_constraint_and_go_with_their_account():
    account = AccountFactory()
    enqueue_many(account, [item(1), item(2)])
    assert account_constraints(ExportRecord._meta.db_table) == []

    account.delete()

    assert not ExportRecord.objects.filter(account_id=account.pk).exists()
    try:
        call_command("migrate", "exports", "0015", verbosity=0)
        assert len(account_constraints(ExportRecord._meta.db_table)) == 1
    finally:
        call_command("migrate", "exports", verbosity=0)
    assert account_constraints(ExportRecord._meta.db_table) == []
