"""A backfill by columns remembers the parents' keys it planned as enqueued and does not read
them again for the chunks after (exports.mapping.columns.remember_parents): the same
records and captured keys, each company's key read once, at most so many remembered. A
chunk's write is checked: it inserts the keys it found never captured, updates or forgets
those it found captured only where they are as read, and rolls back whole otherwise."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import Account
from crmsync.example.crm_exports import CompanyExport, PersonExport
from crmsync.example.models import Company, Person, Tenant
from exports.captured import BackfillProgress, CapturedKey
from exports.mapping.backfill import _write_chunk, backfill
from exports.mapping.capture import (
    Plan,
    apply,
    known,
    prepare,
    write,
)
from exports.mapping.captured_sql import ChangedSinceRead, captured_since
from exports.mapping.columns import columns_of, plan_rows, read_keys, remember_parents
from exports.mapping.digests import digests_of
from exports.models import ExportRecord
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db  # in the test's transaction: written inline, queries seen


@pytest.fixture
def shop() -> Account:
    """25 people of 3 companies, each company's people in every chunk of 10."""
    account = AccountFactory(slug="shop")
    tenant = Tenant.objects.create(name="Shop", crm_account=account)
    companies = Company.objects.bulk_create(
        [Company(tenant=tenant, name=f"C{i}") for i in range(3)]
    )
    Person.objects.bulk_create(
        [Person(tenant=tenant, last_name=f"P{i}", company=companies[i % 3]) for i in range(25)]
    )
    return account


def test_parents_enqueued_in_an_earlier_chunk_are_not_read_again(shop):
    companies = [str(u) for u in Company.objects.values_list("uuid", flat=True)]
    table = CapturedKey._meta.db_table

    sent: list[str] = []

    def seen(execute, sql, params, many, context):  # the statement and its parameters
        sent.append(f"{sql} {params}")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(seen):
        done = backfill(PersonExport, shop.pk, [], batch=10)

    key_reads = [sql for sql in sent if sql.startswith("SELECT") and table in sql]
    assert len(key_reads) == 3  # one a chunk
    assert [sum(u in sql for u in companies) for sql in key_reads] == [3, 0, 0]
    assert (done.rows, done.enqueued) == (25, 28)  # 3 companies, once each; 25 people
    records = ExportRecord.objects.filter(account=shop).order_by("id")
    enqueued: list[str] = []
    for record in records:  # each company before its first person
        if record.sobject == "Contact":
            assert record.fields["Account"]["ExtId__c"] in enqueued
        else:
            enqueued.append(record.external_id)
    assert sorted(enqueued) == sorted(companies)


def test_remembered_parents_give_what_reading_them_gives(shop):
    """A chunk planned with the parents remembered reads the same keys and digests as one
    that reads them all from the database."""
    columns, rows = first_people(shop)
    backfill(CompanyExport, shop.pk, [])  # the companies enqueued: their keys captured
    all_read = read_keys(columns, rows, shop.pk)
    remembered = {key: digests for key, digests in all_read[2].items() if key[1] == "CompanyExport"}
    assert len(remembered) == 3

    from_memory = read_keys(columns, rows, shop.pk, remembered)

    assert from_memory[2] == all_read[2]
    assert sorted(from_memory[1]) == sorted(dict.fromkeys(all_read[1]))
    assert known([k for k in from_memory[1] if k[1] == "CompanyExport"]) == remembered


def test_at_most_so_many_parents_are_remembered(shop):
    columns = columns_of(PersonExport)
    assert columns is not None
    rows = list(columns.read(Person.objects.filter(tenant__crm_account=shop).order_by("pk")))
    keyed = read_keys(columns, rows, shop.pk)[0]
    plan = Plan()
    for _, _, parents in keyed:
        for _, _, state_key in parents:
            plan.state[state_key] = digests_of({"Name": state_key[2]})
    own = (shop.pk, "PersonExport", keyed[0][1])
    plan.state[own] = {}  # the backfill's own export: never remembered

    kept: dict = {}
    remember_parents(columns, plan, keyed, kept, most=2)

    assert 1 <= len(kept) <= 2  # the third parent: the memory cleared, then the third kept
    assert own not in kept
    assert all(kept[key] == plan.state[key] for key in kept)


def test_a_chunk_with_a_key_captured_since_its_read_rolls_back_whole(shop):
    """A chunk inserts the keys it found never captured; a save that captured one in
    between (here: its key written directly) rolls the chunk back with its progress: the
    backfill reads it again (test_backfill_beside_saves)."""
    columns, rows = first_people(shop)
    plan = plan_rows(columns, rows, shop.pk, "default")
    prepared = prepare(plan)
    assert prepared.keep is None and prepared.fresh is not None  # nothing captured before
    taken = (shop.pk, "PersonExport", str(rows[0][columns.key]))
    CapturedKey.objects.create(account=shop, export=taken[1], key=taken[2], digests={})
    progress = BackfillProgress.objects.create(account=shop, export="PersonExport")

    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        write(prepared, savepoint=False, checked=True)
    assert captured_since(raised.value)
    with pytest.raises(ChangedSinceRead):
        _write_chunk(prepared, progress.pk, {"rows": 10, "enqueued": plan.count()})

    assert CapturedKey.objects.filter(account=shop).count() == 1
    assert not ExportRecord.objects.filter(account=shop).exists()
    assert BackfillProgress.objects.get(pk=progress.pk).rows == 0


def test_keys_changed_or_forgotten_since_the_read_fail_a_checked_write(shop):
    """Keys found captured are updated, and those to forget deleted, only where their
    digests are still those read."""
    columns, rows = first_people(shop)
    apply(plan_rows(columns, rows, shop.pk, "default"))  # every key captured
    changed, gone = rows[0][columns.pk], rows[1][columns.pk]
    Person.objects.filter(pk=changed).update(first_name="Bypassed")  # no capture
    Person.objects.filter(pk=gone).update(is_customer=False)
    columns, rows = first_people(shop)
    prepared = prepare(plan_rows(columns, rows, shop.pk, "default"))
    assert prepared.kept == 1 and len(prepared.forget) == 1
    records = ExportRecord.objects.filter(account=shop).count()

    for pk in (changed, gone):  # a save captured the key again after the read
        key = CapturedKey.objects.get(key=str(Person.objects.get(pk=pk).uuid))
        digests = key.digests
        CapturedKey.objects.filter(pk=key.pk).update(digests={**digests, "Email": "?"})
        with pytest.raises(ChangedSinceRead, match="1 of 1 captured keys changed"):
            write(prepared, checked=True)
        assert ExportRecord.objects.filter(account=shop).count() == records
        CapturedKey.objects.filter(pk=key.pk).update(digests=digests)

    assert write(prepared, checked=True) == 2  # as read: the change and the deletion
    assert not CapturedKey.objects.filter(key=str(Person.objects.get(pk=gone).uuid)).exists()


def test_another_integrity_error_is_not_taken_for_a_key_captured_since():
    assert not captured_since(IntegrityError('null value in column "sobject"'))
    assert not captured_since(ValueError("one_captured_key"))


def first_people(shop):
    """PersonExport's columns and the shop's first ten people as a backfill reads them."""
    columns = columns_of(PersonExport)
    assert columns is not None
    rows = list(columns.read(Person.objects.filter(tenant__crm_account=shop).order_by("pk"))[:10])
    return columns, rows
