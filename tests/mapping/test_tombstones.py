"""Tombstones: a row deleted (or excluded) before its key was ever enqueued leaves a captured
key with no digests while a backfill of its export for its account is running, so that a
chunk the backfill read before the row went cannot enqueue it (its checked write fails on
the tombstone). A tombstone is "never enqueued" to every plan."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account
from crmsync.example.models import Company, Person, Tenant
from exports.captured import BackfillProgress, CapturedKey
from exports.mapping.capture import export_objects
from exports.models import ExportRecord
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant() -> Tenant:
    return Tenant.objects.create(name="Shop", crm_account=AccountFactory(slug="shop"))


def never_exported(tenant: Tenant, **fields) -> Person:
    (person,) = Person.objects.bulk_create([Person(tenant=tenant, last_name="Ann", **fields)])
    return person


def running(account: Account, export: str = "PersonExport", **fields) -> BackfillProgress:
    return BackfillProgress.objects.create(account=account, export=export, **fields)


def tombstone(key: object) -> CapturedKey | None:
    return CapturedKey.objects.filter(key=str(key)).first()


def test_no_backfill_running_no_tombstone(tenant):
    never_exported(tenant).delete()

    assert not CapturedKey.objects.exists()
    assert not ExportRecord.objects.exists()


def test_a_deletion_beside_a_running_backfill_leaves_a_tombstone(tenant):
    running(tenant.crm_account)
    person = never_exported(tenant)

    person.delete()

    assert tombstone(person.uuid).digests == {}
    assert not ExportRecord.objects.exists()  # never enqueued: nothing to delete


def test_an_exclusion_beside_a_running_backfill_leaves_a_tombstone(tenant):
    running(tenant.crm_account)
    person = never_exported(tenant)

    person.is_customer = False
    person.save()

    assert tombstone(person.uuid).digests == {}
    assert not ExportRecord.objects.exists()


@pytest.mark.parametrize(
    "progress",
    [
        {"finished_at": timezone.now()},
        {"updated_at": timezone.now() - timedelta(hours=2)},
        {"export": "CompanyExport"},
    ],
    ids=["finished", "abandoned", "another export"],
)
def test_no_tombstone_beside_a_backfill_that_is_not_running_for_the_export(tenant, progress):
    updated_at = progress.pop("updated_at", None)
    made = running(tenant.crm_account, **progress)
    if updated_at is not None:  # auto_now: set it behind the model's back
        BackfillProgress.objects.filter(pk=made.pk).update(updated_at=updated_at)

    never_exported(tenant).delete()

    assert not CapturedKey.objects.exists()


def test_a_key_with_a_tombstone_is_never_enqueued_to_a_plan(tenant):
    running(tenant.crm_account)
    person = never_exported(tenant, email="a@x.io")
    person.is_customer = False
    person.save()  # the tombstone

    person.delete()  # nothing to delete
    assert not ExportRecord.objects.exists()

    again = Person.objects.create(tenant=tenant, last_name="Ann", uuid=person.uuid)  # back
    (record,) = ExportRecord.objects.filter(external_id=str(person.uuid))
    assert record.operation == "upsert"
    assert set(record.fields) >= {"FirstName", "LastName", "Email", "Type__c"}  # the whole record
    assert tombstone(person.uuid).digests  # digests now
    again.delete()
    assert ExportRecord.objects.filter(external_id=str(person.uuid)).last().operation == "delete"


def test_a_parent_with_a_tombstone_goes_first(tenant):
    running(tenant.crm_account, export="CompanyExport")
    (company,) = Company.objects.bulk_create([Company(tenant=tenant, name="C")])
    export_objects([company], deleted=True)  # a tombstone for its key
    assert tombstone(company.uuid).digests == {}

    Person.objects.create(tenant=tenant, last_name="Bo", company=company)

    sobjects = list(ExportRecord.objects.order_by("id").values_list("sobject", flat=True))
    assert sobjects == ["Account", "Contact"]
