"""A backfill beside the app's own saves: a row saved after the backfill read its chunk and
before the chunk was written must not have its older values enqueued after the save's
record. Replaying the outbox in order must give every row's current values, and the
captured keys must be those values' digests.

PostgreSQL: the chunk after the one being written is read ahead, so a save made when a
chunk commits (`on_chunk`) lands between the next chunk's read and its write."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections, transaction

from accounts.models import Account
from crmsync.example.crm_exports import PersonExport
from crmsync.example.models import Company, Person, Tenant
from exports.captured import BackfillProgress, CapturedKey
from exports.mapping import backfill as backfill_module
from exports.mapping.backfill import BackfillError, Chunk, backfill
from exports.mapping.columns import columns_of
from exports.mapping.digests import digests_of
from exports.mapping.writer import one_snapshot
from exports.models import ExportRecord
from tests.conftest import lock_waiters, wait_for
from tests.factories import AccountFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop() -> Account:
    account = AccountFactory(slug="shop")
    tenant = Tenant.objects.create(name="Shop", crm_account=account)
    company = Company.objects.create(tenant=tenant, name="C")
    Person.objects.bulk_create(
        [Person(tenant=tenant, last_name=f"P{i}", company=company) for i in range(40)]
    )
    return account


def replayed(account: Account) -> dict[str, dict[str, Any]]:
    """Each Contact's fields as the org holds them once the outbox is exported in order."""
    org: dict[str, dict[str, Any]] = {}
    for record in ExportRecord.objects.filter(account=account, sobject="Contact").order_by("id"):
        org.setdefault(record.external_id, {}).update(record.fields)
    return org


def current(person: Person) -> dict[str, Any]:
    return PersonExport.values_of(person)


def assert_consistent(account: Account) -> None:
    org = replayed(account)
    keys = {k.key: k.digests for k in CapturedKey.objects.filter(export="PersonExport")}
    for person in Person.objects.filter(tenant__crm_account=account):
        key = str(person.uuid)
        assert org[key] == current(person), person.last_name
        assert keys[key] == digests_of(current(person)), person.last_name


def save_when(chunk_number: int, last_name: str, **changes: Any):
    """An on_chunk callback that saves one person (with capture) once chunk N committed."""
    seen = {"chunks": 0}

    def on_chunk(done: Chunk) -> None:
        seen["chunks"] += 1
        if seen["chunks"] == chunk_number:
            person = Person.objects.get(last_name=last_name)
            for name, value in changes.items():
                setattr(person, name, value)
            person.save()

    return on_chunk


class PersonByObjects(PersonExport):
    """PersonExport read as model instances (a method of its own), its keys the same."""

    @classmethod
    def name(cls) -> str:
        return "PersonExport"

    @classmethod
    def parents_of(cls, obj: Any) -> list[Any]:
        return super().parents_of(obj)


@pytest.mark.parametrize("export", [PersonExport, PersonByObjects], ids=["columns", "objects"])
def test_a_row_saved_between_its_chunks_read_and_write_ends_with_its_saved_values(shop, export):
    assert (columns_of(export) is None) == (export is PersonByObjects)
    # batch 10: P10..P19 is chunk 2, read while chunk 1 was planned
    backfill(export, shop.pk, [], batch=10, on_chunk=save_when(1, "P15", email="new@x.io"))

    assert Person.objects.get(last_name="P15").email == "new@x.io"
    assert_consistent(shop)
    saved = str(Person.objects.get(last_name="P15").uuid)
    assert ExportRecord.objects.filter(external_id=saved).count() == 1  # the save's alone


def test_a_captured_row_saved_between_its_chunks_read_and_write_ends_with_its_saved_values(shop):
    backfill(PersonExport, shop.pk, [], batch=10)
    Person.objects.filter(last_name__in=["P14", "P15"]).update(first_name="Bypassed")  # no capture

    backfill(PersonExport, shop.pk, [], batch=10, on_chunk=save_when(1, "P15", email="new@x.io"))

    assert_consistent(shop)
    assert replayed(shop)[str(Person.objects.get(last_name="P14").uuid)]["FirstName"] == "Bypassed"


def test_a_row_to_delete_saved_between_its_chunks_read_and_write_is_deleted_once(shop):
    backfill(PersonExport, shop.pk, [], batch=10)
    Person.objects.filter(last_name="P15").update(is_customer=False)  # no capture

    backfill(PersonExport, shop.pk, [], batch=10, on_chunk=save_when(1, "P15", email="new@x.io"))

    key = str(Person.objects.get(last_name="P15").uuid)
    operations = ExportRecord.objects.filter(external_id=key).order_by("id")
    assert [r.operation for r in operations] == ["upsert", "delete"]  # the save's deletion
    assert list(CapturedKey.objects.filter(key=key).values_list("digests", flat=True)) == []


def test_rows_saved_beside_every_chunk_stop_it_with_a_clear_error_and_it_resumes(shop, monkeypatch):
    """Each chunk that commits saves a row of the next one, whose write then rolls back and
    is read again: after so many restarts the backfill stops, saying so; run again, it
    starts after the last chunk committed."""
    monkeypatch.setattr(backfill_module, "RESTARTS", 2)
    saved = {"n": 0}

    def save_the_next_row(done: Chunk) -> None:
        person = Person.objects.filter(tenant__crm_account=shop, pk__gt=done.last_pk).first()
        if person is not None:
            saved["n"] += 1
            person.first_name = f"Saved {saved['n']}"
            person.save()

    with pytest.raises(BackfillError, match="kept being saved while their chunk was written"):
        backfill(PersonExport, shop.pk, [], batch=10, on_chunk=save_the_next_row)
    assert saved["n"] == 2
    assert BackfillProgress.objects.get(account=shop).rows == 20  # two chunks committed

    backfill(PersonExport, shop.pk, [], batch=10)
    assert_consistent(shop)


def test_a_chunks_rows_and_keys_are_read_as_of_one_moment(shop):
    """Inside one_snapshot, a save another connection commits after the first read is not
    seen by the reads after it: the keys read match the rows read."""
    person = Person.objects.get(last_name="P3")

    def save_elsewhere() -> None:
        person.email = "later@x.io"
        person.save()  # captured: its key and record, committed
        connections.close_all()

    with one_snapshot():
        assert Person.objects.get(pk=person.pk).email == ""
        saver = threading.Thread(target=save_elsewhere)
        saver.start()
        saver.join()
        assert Person.objects.get(pk=person.pk).email == ""
        assert not CapturedKey.objects.filter(key=str(person.uuid)).exists()

    assert Person.objects.get(pk=person.pk).email == "later@x.io"
    assert CapturedKey.objects.filter(key=str(person.uuid)).exists()


def live(account: Account) -> set[str]:
    """The Contacts the org holds once the outbox is exported in order."""
    last: dict[str, str] = {}
    for record in ExportRecord.objects.filter(account=account, sobject="Contact").order_by("id"):
        last[record.external_id] = record.operation
    return {key for key, operation in last.items() if operation == "upsert"}


def delete_when(chunk_number: int, last_name: str):
    """An on_chunk callback that deletes one person (with capture) once chunk N committed."""
    seen = {"chunks": 0}

    def on_chunk(done: Chunk) -> None:
        seen["chunks"] += 1
        if seen["chunks"] == chunk_number:
            Person.objects.get(last_name=last_name).delete()

    return on_chunk


@pytest.mark.parametrize("export", [PersonExport, PersonByObjects], ids=["columns", "objects"])
def test_a_never_exported_row_deleted_between_its_chunks_read_and_write_is_not_exported(
    shop, export
):
    """Its deletion had nothing to delete (the key was never enqueued): the tombstone it left
    rolls the chunk back, which is read again without the row."""
    gone = str(Person.objects.get(last_name="P15").uuid)

    backfill(export, shop.pk, [], batch=10, on_chunk=delete_when(1, "P15"))

    assert not Person.objects.filter(last_name="P15").exists()
    assert gone not in live(shop)
    assert len(live(shop)) == 39
    assert_consistent(shop)


@pytest.mark.parametrize("export", [PersonExport, PersonByObjects], ids=["columns", "objects"])
def test_a_never_exported_row_excluded_between_its_chunks_read_and_write_is_not_exported(
    shop, export
):
    excluded = str(Person.objects.get(last_name="P15").uuid)

    backfill(export, shop.pk, [], batch=10, on_chunk=save_when(1, "P15", is_customer=False))

    assert excluded not in live(shop)
    assert len(live(shop)) == 39


def test_a_backfill_starts_after_a_deletion_in_flight_that_found_none_running(shop):
    """A deletion that found no backfill running left no tombstone; it holds the account
    until it commits, and a backfill starts under the same lock: it reads its first chunk
    after the row is gone."""
    gone = str(Person.objects.get(last_name="P15").uuid)
    deleted, release = threading.Event(), threading.Event()

    def delete_elsewhere() -> None:
        try:
            with transaction.atomic():
                Person.objects.get(last_name="P15").delete()
                deleted.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    def backfill_elsewhere() -> None:
        try:
            backfill(PersonExport, shop.pk, [], batch=10)
        finally:
            connections.close_all()

    deleter = threading.Thread(target=delete_elsewhere)
    deleter.start()
    runner = threading.Thread(target=backfill_elsewhere)
    try:
        wait_for(deleted.is_set, timeout=10, what="the row deleted, not committed")
        assert not CapturedKey.objects.filter(key=gone).exists()  # no tombstone: none ran
        runner.start()
        wait_for(lambda: lock_waiters() >= 1, timeout=10, what="the backfill waiting to start")
    finally:
        release.set()
        deleter.join(timeout=30)
        if runner.ident is not None:  # started
            runner.join(timeout=60)
    assert not runner.is_alive(), "the backfill did not finish"

    assert gone not in live(shop)
    assert len(live(shop)) == 39
