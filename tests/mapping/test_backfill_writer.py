"""A backfill writes each chunk in a thread of its own on PostgreSQL (exports.mapping.writer)
while it plans the next: the same records and captured keys as writing inline; a writer's
error surfaces in the backfill, which then resumes after the last chunk committed. The
account indexes that repeated another index's first column are gone, on PostgreSQL and
SQLite alike."""

from __future__ import annotations

import gc
import sys
import threading
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import Account
from crmsync.example.crm_exports import PersonExport
from crmsync.example.models import Company, Person, Tenant
from exports.captured import BackfillProgress, CapturedKey
from exports.mapping import backfill as backfill_module
from exports.mapping.backfill import backfill
from exports.mapping.capture import overlay
from exports.mapping.columns import _instance_of, columns_of
from exports.mapping.writer import Ahead, Writer, fewer_collections, overlaps, quick_handoffs
from exports.models import ExportRecord
from tests.conftest import account_constraints
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)  # the writer's connection sees commits


@pytest.fixture
def shop() -> Account:
    """25 people of 3 companies (each company's people in every chunk of 10), one not
    included; another account's person."""
    account = AccountFactory(slug="shop")
    tenant = Tenant.objects.create(name="Shop", crm_account=account)
    companies = Company.objects.bulk_create(
        [Company(tenant=tenant, name=f"C{i}") for i in range(3)]
    )
    Person.objects.bulk_create(
        [
            Person(tenant=tenant, last_name=f"P{i}", company=companies[i % 3], is_customer=i != 7)
            for i in range(25)
        ]
    )
    other = Tenant.objects.create(name="Other", crm_account=AccountFactory(slug="other"))
    Person.objects.bulk_create([Person(tenant=other, last_name="Not shop's")])
    return account


def outcome(account: Account) -> tuple[list[Any], dict[Any, Any], tuple[int, int]]:
    rows = ExportRecord.objects.filter(account=account).order_by("id")
    records = [(r.operation, r.sobject, r.external_id, r.fields) for r in rows]
    keys = {(k.export, k.key): k.digests for k in CapturedKey.objects.filter(account=account)}
    progress = BackfillProgress.objects.get(account=account)
    return records, keys, (progress.rows, progress.enqueued)


def forget(account: Account) -> None:
    ExportRecord.objects.filter(account=account).delete()
    CapturedKey.objects.filter(account=account).delete()
    BackfillProgress.objects.filter(account=account).delete()


def test_a_backfill_writes_in_a_thread_on_postgresql_outside_a_transaction_only():
    assert overlaps("postgresql", in_transaction=False)
    assert not overlaps("postgresql", in_transaction=True)  # its rows: not the writer's to see
    assert not overlaps("sqlite", in_transaction=False)


def test_written_in_a_thread_or_inline_a_backfill_enqueues_the_same(shop, monkeypatch):
    threads: set[str] = set()
    real = backfill_module._write_chunk

    def noted(*args: Any) -> None:
        threads.add(threading.current_thread().name)
        real(*args)

    monkeypatch.setattr(backfill_module, "_write_chunk", noted)
    backfill(PersonExport, shop.pk, [], batch=10)
    in_thread, written_by = outcome(shop), set(threads)
    forget(shop)
    monkeypatch.setattr(backfill_module, "overlaps", lambda vendor, in_transaction: False)
    backfill(PersonExport, shop.pk, [], batch=10)

    assert outcome(shop) == in_thread
    companies = [r for r in in_thread[0] if r[1] == "Account"]
    assert len(companies) == 3  # once each, though the next chunk was planned before it committed
    assert in_thread[2] == (25, 27)
    if connection.vendor == "postgresql":
        assert written_by == {"backfill-writer_0"}
    else:
        assert written_by == {"MainThread"}


def test_a_writers_error_surfaces_and_the_backfill_resumes_after_the_last_chunk_committed(
    shop, monkeypatch
):
    real = backfill_module._write_chunk
    calls = {"n": 0}

    def fails_on_the_third_chunk(*args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the database went away")
        real(*args)

    monkeypatch.setattr(backfill_module, "_write_chunk", fails_on_the_third_chunk)
    with pytest.raises(RuntimeError, match="the database went away"):
        backfill(PersonExport, shop.pk, [], batch=10)
    progress = BackfillProgress.objects.get(account=shop)
    assert (progress.rows, progress.finished_at) == (20, None)
    contacts = ExportRecord.objects.filter(account=shop, sobject="Contact")
    assert contacts.count() == 19  # the first two chunks' included people, nothing of the third

    monkeypatch.setattr(backfill_module, "_write_chunk", real)
    done = backfill(PersonExport, shop.pk, [], batch=10)

    assert (done.rows, done.enqueued) == (25, 27)
    names = sorted(r.fields["LastName"] for r in contacts)
    assert names == sorted(f"P{i}" for i in range(25) if i != 7)  # each once
    assert ExportRecord.objects.filter(account=shop, sobject="Account").count() == 3


def test_a_writer_lets_the_chunk_in_flight_finish_when_the_caller_fails():
    written: list[int] = []
    writer = Writer(threaded=True)
    try:
        writer.submit(lambda: written.append(1))
        raise KeyboardInterrupt  # the operator's Ctrl-C while the next chunk is planned
    except KeyboardInterrupt:
        pass
    finally:
        writer.close()
    assert written == [1]


def test_instances_built_plainly_are_those_from_db_builds(shop):
    columns = columns_of(PersonExport)
    assert columns is not None and columns.attnames
    row = columns.read(Person.objects.filter(tenant__crm_account=shop))[0]
    plain = _instance_of(Person, columns.attnames, "default")(row[: len(columns.attnames)])
    django = Person.from_db("default", columns.attnames, row[: len(columns.attnames)])

    def state(obj: Any) -> Any:
        return (obj._state.adding, obj._state.db, obj._state.fields_cache)

    assert type(plain) is Person
    assert {k: v for k, v in vars(plain).items() if k != "_state"} == {
        k: v for k, v in vars(django).items() if k != "_state"
    }
    assert state(plain) == state(django) == (False, "default", {})
    assert plain.company.pk == django.company.pk  # the relation loads as Django's would


def account_indexes(table: str) -> list[str]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return [n for n, c in found.items() if c["index"] and c["columns"] == ["account_id"]]


def test_the_account_indexes_another_index_repeats_are_dropped_and_come_back_on_reverse():
    tables = [ExportRecord._meta.db_table, CapturedKey._meta.db_table]
    assert [account_indexes(t) for t in tables] == [[], []]
    try:
        call_command("migrate", "exports", "0013", verbosity=0)
        assert all(len(account_indexes(t)) == 1 for t in tables)
    finally:
        call_command("migrate", "exports", verbosity=0)
    assert [account_indexes(t) for t in tables] == [[], []]


def test_captured_keys_have_no_account_constraint_and_go_with_their_account(shop):
    """No foreign key check at each commit of a backfill's chunk; Django deletes the keys
    with the account all the same (and with the migration undone, the constraint is back)."""
    table = CapturedKey._meta.db_table

    assert account_constraints(table) == []
    backfill(PersonExport, shop.pk, [], batch=10)
    assert CapturedKey.objects.filter(account=shop).exists()
    shop.delete()
    assert not CapturedKey.objects.filter(account_id=shop.pk).exists()
    try:
        call_command("migrate", "exports", "0014", verbosity=0)
        assert len(account_constraints(table)) == 1
    finally:
        call_command("migrate", "exports", verbosity=0)
    assert account_constraints(table) == []


def test_keys_read_ahead_are_planned_as_they_are_once_the_chunks_before_commit():
    a, b, c = (1, "PersonExport", "a"), (1, "PersonExport", "b"), (1, "PersonExport", "c")
    found = {a: {"Name": "1"}, b: {"Name": "2"}}
    pending = {a: None, c: {"Name": "3"}}  # a forgotten, c enqueued by a chunk not committed

    assert overlay([a, b, c], found, pending) == {b: {"Name": "2"}, c: {"Name": "3"}}
    assert found == {a: {"Name": "1"}, b: {"Name": "2"}}  # what was read stays as read
    assert overlay([a, b], found, None) == found


def test_a_read_ahead_gives_each_step_in_order_and_raises_its_error():
    steps = iter([1, 2, ValueError("a bad chunk")])

    def step() -> int:
        found = next(steps, None)
        if isinstance(found, Exception):
            raise found
        return found  # type: ignore[return-value]

    reads = Ahead(step, threaded=True)
    try:
        assert [reads.take(), reads.take()] == [1, 2]
        with pytest.raises(ValueError, match="a bad chunk"):
            reads.take()
    finally:
        reads.close()


def test_the_switch_interval_is_set_back_after_a_threaded_backfill():
    before = sys.getswitchinterval()
    with quick_handoffs(threaded=True):
        assert sys.getswitchinterval() == min(before, 0.0005)
    assert sys.getswitchinterval() == before


def test_the_collector_is_set_back_after_a_backfill():
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] == 50_000
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
