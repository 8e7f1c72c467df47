"""crm_backfill: the rows that existed before crmsync, in primary-key order, parents first,
resumable after an interruption without enqueueing anything twice."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from crmsync.example.models import Company, Person, Tenant
from exports.captured import BackfillProgress
from exports.mapping import backfill as backfill_module
from exports.models import ExportRecord
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop() -> Tenant:
    tenant = Tenant.objects.create(name="Shop", crm_account=AccountFactory(slug="shop"))
    companies = Company.objects.bulk_create(
        [Company(tenant=tenant, name=f"C{i}") for i in range(3)]
    )
    Person.objects.bulk_create(
        [Person(tenant=tenant, last_name=f"P{i}", company=companies[i % 3]) for i in range(25)]
    )
    other = Tenant.objects.create(name="Other", crm_account=AccountFactory(slug="other"))
    Person.objects.bulk_create([Person(tenant=other, last_name="Not shop's")])
    return tenant


def backfill(*args: str) -> str:
    out = io.StringIO()
    call_command(
        "crm_backfill",
        "--account",
        "shop",
        "--export",
        "PersonExport",
        "--no-progress",
        *args,
        stdout=out,
    )
    return out.getvalue()


def test_backfill_enqueues_parents_first_in_key_order(shop):
    said = backfill("--batch", "10")

    assert "25 rows read, 28 records enqueued" in said
    rows = list(ExportRecord.objects.filter(account=shop.crm_account).order_by("id"))
    people = [r.fields["LastName"] for r in rows if r.sobject == "Contact"]
    assert people == [f"P{i}" for i in range(25)]
    first_contact_of = {}
    for position, r in enumerate(rows):
        if r.sobject == "Contact":
            first_contact_of.setdefault(r.fields["Account"]["ExtId__c"], position)
    accounts = {
        r.external_id: position for position, r in enumerate(rows) if r.sobject == "Account"
    }
    assert all(accounts[company] < contact for company, contact in first_contact_of.items())
    assert "25 rows read, 0 records enqueued" in backfill()  # again: nothing changed


def test_an_interrupted_backfill_resumes_where_it_stopped(shop, monkeypatch):
    real = backfill_module._plan_chunk
    calls = {"n": 0}

    def dies_on_the_third_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("the operator pressed Ctrl-C")
        return real(*args, **kwargs)

    monkeypatch.setattr(backfill_module, "_plan_chunk", dies_on_the_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        backfill("--batch", "10")
    progress = BackfillProgress.objects.get()
    assert (progress.rows, progress.finished_at) == (20, None)
    done_before = ExportRecord.objects.filter(sobject="Contact").count()
    assert done_before == 20

    monkeypatch.setattr(backfill_module, "_plan_chunk", real)
    said = backfill("--batch", "10")

    assert f"resuming PersonExport for shop after primary key {progress.last_pk}" in said
    contacts = ExportRecord.objects.filter(sobject="Contact", account=shop.crm_account)
    assert contacts.count() == 25  # nothing twice
    assert sorted(r.fields["LastName"] for r in contacts) == sorted(f"P{i}" for i in range(25))


def test_where_filters_and_bad_input_is_a_clear_error(shop):
    assert "1 rows read" in backfill("--where", "last_name=P7")
    with pytest.raises(CommandError, match="no export named 'Nope'"):
        call_command("crm_backfill", "--account", "shop", "--export", "Nope", stdout=io.StringIO())
    with pytest.raises(CommandError, match="--where"):
        backfill("--where", "no_such_field=1")
    with pytest.raises(CommandError, match="--where"):
        backfill("--where", "nonsense")
