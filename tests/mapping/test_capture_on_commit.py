"""A save or deletion of a declared model enqueues its record in the same transaction:
changed fields only, deletions, parents first, `export_queryset` after `update()`."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction

from accounts.models import Account
from crmsync.example.crm_exports import TOUCHPOINT
from crmsync.example.models import Company, Person, Tenant, Touchpoint
from exports.mapping import export_objects, export_queryset
from exports.models import ExportRecord
from exports.tools.runner import run_and_wait
from tests.conftest import lock_waiters, wait_for
from tests.factories import AccountFactory


def records(account: Account) -> list[tuple[str, str, str, dict[str, Any]]]:
    rows = ExportRecord.objects.filter(account=account).order_by("id")
    return [(r.operation, r.sobject, r.external_id, r.fields) for r in rows]


@pytest.fixture
def tenant(db: None) -> Tenant:
    return Tenant.objects.create(name="Shop", crm_account=AccountFactory(slug="shop"))


def person(tenant: Tenant, **fields: Any) -> Person:
    return Person.objects.create(tenant=tenant, last_name=fields.pop("last_name", "Ames"), **fields)


def test_a_save_enqueues_the_whole_record_then_only_what_changed(tenant):
    ada = person(tenant, first_name="Ada", birthday=dt.date(1990, 5, 1), score=Decimal("7.50"))
    ada.email = "ada@example.com"
    ada.save()
    ada.notes = "not mapped"
    ada.save()  # no mapped field changed: nothing

    (first, second) = records(tenant.crm_account)
    assert first[:3] == ("upsert", "Contact", str(ada.uuid))
    assert first[3] == {
        "FirstName": "Ada",
        "LastName": "Ames",
        "Email": "",
        "Type__c": "Lead",
        "Birthdate": "1990-05-01",
        "Score__c": 7.5,
        "Account": None,
    }
    assert second[3] == {"Email": "ada@example.com"}


def test_a_rolled_back_save_enqueues_nothing(tenant):
    with pytest.raises(RuntimeError), transaction.atomic():
        person(tenant)
        raise RuntimeError("the host app's transaction fails")

    assert records(tenant.crm_account) == []


def test_delete_and_include_turning_false_enqueue_deletions(tenant):
    ada, bob = person(tenant, last_name="Ada"), person(tenant, last_name="Bob")
    never = person(tenant, last_name="Never", is_customer=False)
    ada.delete()
    bob.is_customer = False
    bob.save()
    never.delete()  # never exported: nothing to delete

    ops = [(op, ext) for op, _, ext, _ in records(tenant.crm_account)]
    assert ops == [
        ("upsert", str(ada.uuid)),
        ("upsert", str(bob.uuid)),
        ("delete", str(ada.uuid)),
        ("delete", str(bob.uuid)),
    ]
    bob.is_customer = True
    bob.save()  # exported again: the whole record
    assert records(tenant.crm_account)[-1][3]["LastName"] == "Bob"


def test_a_childs_parent_goes_first(tenant):
    with transaction.atomic():  # the company is saved with signals off: never exported
        company = Company(tenant=tenant, name="Acme")
        Company.objects.bulk_create([company])
    ada = person(tenant, company=company)

    got = records(tenant.crm_account)
    assert [(sobject, ext) for _, sobject, ext, _ in got] == [
        ("Account", str(company.uuid)),
        ("Contact", str(ada.uuid)),
    ]
    assert got[1][3]["Account"] == {"ExtId__c": str(company.uuid)}
    person(tenant, company=company, last_name="Bob")  # the parent is known now: not again
    assert [s for _, s, _, _ in records(tenant.crm_account)].count("Account") == 1


def test_export_queryset_after_update(tenant):
    people = [person(tenant, last_name=f"P{i}") for i in range(3)]
    Person.objects.filter(tenant=tenant).update(kind="Customer")  # no signals

    enqueued = export_queryset(Person.objects.filter(tenant=tenant))

    assert enqueued == 3
    assert [f for _, _, _, f in records(tenant.crm_account)[-3:]] == [{"Type__c": "Customer"}] * 3
    assert export_objects(Person.objects.filter(tenant=tenant)) == 0  # nothing changed since
    assert len(people) == 3


def test_rows_of_no_crmsync_account_are_not_exported(db):
    lonely = Tenant.objects.create(name="No CRM")
    person(lonely)
    assert not ExportRecord.objects.exists()


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_committed_saves_enqueue_in_commit_order_under_two_threads():
    """The first writer saves and holds its transaction open; the second saves meanwhile and
    waits for the account's lock (PostgreSQL; SQLite serializes writers), so its record
    comes after the first's whatever order the saves' rows took."""
    tenant = Tenant.objects.create(name="Shop", crm_account=AccountFactory(slug="shop"))
    first_holding, release_first, second_done = (threading.Event() for _ in range(3))

    def first() -> None:
        try:
            with transaction.atomic():
                person(tenant, last_name="First")
                first_holding.set()
                release_first.wait(timeout=30)
        finally:
            connection.close()

    def second() -> None:
        try:
            with transaction.atomic():
                person(tenant, last_name="Second")
            second_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    wait_for(first_holding.is_set, timeout=10)
    threads[1].start()
    try:
        if connection.vendor == "postgresql":
            wait_for(lambda: lock_waiters() >= 1, timeout=10)
        assert not second_done.is_set()
    finally:
        release_first.set()
        for thread in threads:
            thread.join(timeout=30)

    assert second_done.is_set()
    names = [f["LastName"] for _, _, _, f in records(tenant.crm_account)]
    assert names == ["First", "Second"]


@pytest.mark.integration
def test_a_saved_model_reaches_the_org_through_a_real_worker(sandbox, celery_worker, crm_account):
    account = crm_account(slug="shop")
    tenant = Tenant.objects.create(name="Shop", crm_account=account)
    company = Company.objects.create(tenant=tenant, name="Acme")
    ada = person(tenant, company=company, email="ada@example.com")
    Touchpoint.objects.create(
        tenant=tenant, person=ada, occurred_at=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    )

    run = run_and_wait(account, timeout=60)

    assert (run.outcome, run.exported) == ("completed", 3)
    written = [(w["sobject"], w["external_id"]) for w in sandbox.writes()]
    assert written == [
        ("Account", str(company.uuid)),
        ("Contact", str(ada.uuid)),
        (TOUCHPOINT, ANY_UUID),
    ]
    contact = sandbox.records("Contact", ["ExtId__c", "Email"])[0]
    assert contact == {"ExtId__c": str(ada.uuid), "Email": "ada@example.com"}


class _AnyUuid:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and len(other) == 36


ANY_UUID = _AnyUuid()


class Customer(Person):
    """A proxy of a declared model, defined after the declarations."""

    class Meta:
        proxy = True
        app_label = "example"


def test_saves_and_deletions_through_a_proxy_are_captured(tenant):
    customer = Customer.objects.create(tenant=tenant, last_name="Proxied")
    customer.email = "p@example.com"
    customer.save()
    customer.delete()

    assert [(r[0], r[2], r[3].get("Email")) for r in records(tenant.crm_account)] == [
        ("upsert", str(customer.uuid), ""),
        ("upsert", str(customer.uuid), "p@example.com"),
        ("delete", str(customer.uuid), None),
    ]
