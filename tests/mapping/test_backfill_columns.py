"""Backfill reads an export's rows by columns when its records depend on columns only
(exports.mapping.columns): the records and captured keys are those reading objects gives;
an export that needs objects reads objects; the account's rows are found by its tenants'
ids."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from hashlib import blake2b
from typing import Any

import pytest
from django.db import transaction

from accounts.models import Account
from crmsync.example.crm_exports import CompanyExport, PersonExport
from crmsync.example.models import Company, Person, Tenant
from exports.captured import CapturedKey
from exports.mapping import Export, Ref
from exports.mapping.backfill import backfill
from exports.mapping.capture import capture
from exports.mapping.columns import capture_rows, columns_of
from exports.mapping.digests import digest
from exports.models import ExportRecord
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop() -> Account:
    """People of every kind: with and without a company (one enqueued before, one never),
    dates and decimals, one captured before and changed since, one captured before and no
    longer included, one never included."""
    account = AccountFactory(slug="shop")
    tenant = Tenant.objects.create(name="Shop", crm_account=account)
    known, fresh = Company.objects.create(tenant=tenant, name="Known"), None
    with transaction.atomic():  # saved without signals: never enqueued
        fresh = Company(tenant=tenant, name="Fresh")
        Company.objects.bulk_create([fresh])
    changed = Person.objects.create(tenant=tenant, last_name="Changed", company=known)
    dropped = Person.objects.create(tenant=tenant, last_name="Dropped")
    Person.objects.filter(pk=changed.pk).update(email="new@example.com", score=Decimal("2.50"))
    Person.objects.filter(pk=dropped.pk).update(is_customer=False)
    Person.objects.bulk_create(
        [
            Person(tenant=tenant, last_name="Plain"),
            Person(tenant=tenant, last_name="Fresh's", company=fresh, birthday=dt.date(1990, 5, 1)),
            Person(tenant=tenant, last_name="Known's", company=known, score=Decimal("1.10")),
            Person(tenant=tenant, last_name="Big", score=Decimal("123456.78"), kind="Customer"),
            Person(tenant=tenant, last_name="Never", is_customer=False),
        ]
    )
    return account


def records(account: Account) -> list[tuple[str, str, str, dict[str, Any]]]:
    rows = ExportRecord.objects.filter(account=account).order_by("id")
    return [(r.operation, r.sobject, r.external_id, r.fields) for r in rows]


def keys(account: Account) -> dict[tuple[str, str], Any]:
    return {(k.export, k.key): k.digests for k in CapturedKey.objects.filter(account=account)}


def captured_both_ways(export: type[Export], account: Account) -> list[Any]:
    """(records, captured keys) after capturing the account's rows as objects, and after
    capturing them by columns, each rolled back."""
    qs = export.model._default_manager.filter(tenant__crm_account=account).order_by("pk")
    columns = columns_of(export)
    assert columns is not None
    found = []
    for by_columns in (False, True):
        with transaction.atomic():
            if by_columns:
                capture_rows(columns, list(columns.read(qs)), account.pk, "default")
            else:
                capture([(export, obj) for obj in qs], account_id=account.pk)
            found.append((records(account), keys(account)))
            transaction.set_rollback(True)
    return found


def test_columns_give_the_records_and_keys_objects_give(shop):
    before = len(records(shop))

    by_objects, by_columns = captured_both_ways(PersonExport, shop)

    assert by_columns == by_objects
    made = by_objects[0][before:]
    assert [(op, sobject) for op, sobject, _, _ in made] == [
        ("upsert", "Contact"),  # changed: its changed fields only
        ("delete", "Contact"),  # dropped
        ("upsert", "Contact"),  # plain
        ("upsert", "Account"),  # fresh, the parent, first
        ("upsert", "Contact"),
        ("upsert", "Contact"),
        ("upsert", "Contact"),
    ]
    assert made[0][3] == {"Email": "new@example.com", "Score__c": 2.5}
    assert made[6][3]["Score__c"] == 123456.78


def test_an_export_of_its_own_include_or_none_reads_by_columns_the_same(shop):
    by_objects, by_columns = captured_both_ways(CompanyExport, shop)

    assert by_columns == by_objects


def test_exports_that_need_objects_read_objects(registry):
    class Named(PersonExport):
        @classmethod
        def values_of(cls, obj: Any) -> dict[str, Any]:
            return {"LastName": str(obj)}

    class Everyone(PersonExport):
        account = staticmethod(lambda person: person.tenant.crm_account_id)  # type: ignore[assignment]

    class Pointed(PersonExport):
        fields = {"Account": Ref("Account", "ExtId__c", "company.pk")}

    class ByForeignKey(PersonExport):
        fields = {"Company__c": "company"}

    class ThroughProperty(PersonExport):
        fields = {"Name__c": "company.__str__"}

    assert columns_of(PersonExport) is not None
    assert columns_of(PersonExport).attnames  # its own include: the row's instance too
    assert columns_of(CompanyExport).attnames == ()
    for export in (Named, Everyone, Pointed, ByForeignKey, ThroughProperty):
        assert columns_of(export) is None, export


def test_a_backfill_by_objects_enqueues_what_one_by_columns_does(shop, registry):
    class PersonByObjects(PersonExport):
        @classmethod
        def name(cls) -> str:
            return "PersonExport"  # the same captured keys

        @classmethod
        def parents_of(cls, obj: Any) -> list[Any]:
            return super().parents_of(obj)

    assert columns_of(PersonByObjects) is None
    got = []
    for export in (PersonExport, PersonByObjects):
        with transaction.atomic():
            backfill(export, shop.pk, [], batch=3)
            got.append(records(shop))
            transaction.set_rollback(True)

    assert got[0] == got[1]
    assert len(got[0]) > 7


@pytest.mark.parametrize("tenants", [2, 1001])  # by the tenants' ids; over 1,000: a join
def test_a_backfill_reads_every_tenant_of_the_account_and_no_other(tenants):
    account, other = AccountFactory(slug="shop"), AccountFactory(slug="other")
    ours = Tenant.objects.bulk_create(
        [Tenant(name=f"T{i}", crm_account=account) for i in range(tenants)]
    )
    theirs = Tenant.objects.create(name="Theirs", crm_account=other)
    Person.objects.bulk_create(
        [
            Person(tenant=ours[0], last_name="First"),
            Person(tenant=theirs, last_name="Theirs"),
            Person(tenant=ours[-1], last_name="Last"),
        ]
    )

    done = backfill(PersonExport, account.pk, [], batch=1)

    assert (done.rows, done.enqueued) == (2, 2)
    assert [f["LastName"] for _, _, _, f in records(account)] == ["First", "Last"]


def test_remembered_digests_are_digests_of_the_repr():
    values = [1, True, "1", None, 0, False, 0.0, -0.0, 1.5, {"ExtId__c": 1}, {"ExtId__c": True}]
    values += [{"ExtId__c": "1"}, {"Other__c": "1"}, {"ExtId__c": -0.0}, {"ExtId__c": 0.0}]

    for _ in range(2):  # the second time from memory
        for value in values:
            assert digest(value) == blake2b(repr(value).encode(), digest_size=8).hexdigest()


@pytest.mark.postgres
def test_postgresql_reads_keys_and_refs_as_text_and_gives_the_same_records(shop):
    columns = columns_of(PersonExport)
    assert columns is not None
    people = Person.objects.filter(tenant__crm_account=shop, company__isnull=False)
    row, person = columns.read(people.order_by("pk"))[0], people.order_by("pk")[0]
    assert row[columns.key] == str(person.uuid)
    ref = next(at for name, at, _ in columns.fields if name == "Account")
    assert row[ref] == str(person.company.uuid)
    assert type(row[columns.attnames.index("uuid")]) is uuid.UUID  # include's instance

    by_objects, by_columns = captured_both_ways(PersonExport, shop)

    assert by_columns == by_objects
