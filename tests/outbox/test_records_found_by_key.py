"""A key's outbox records are found by `records_with_key`: as the org compares external
ids (case-insensitively), within one account only, and on PostgreSQL by the hash index
exportrecord_key, not by scanning the account's records."""

from __future__ import annotations

import pytest
from django.db import connection

from exports.models import ExportRecord, records_with_key
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def _records(account, ext_ids):
    ExportRecord.objects.bulk_create(
        [
            ExportRecord(
                account=account,
                sobject="Contact",
                external_id_field="Ext_Id__c",
                external_id=e,
                fields={},
            )
            for e in ext_ids
        ]
    )


def test_a_key_is_found_in_any_case_and_in_its_account_only() -> None:
    mine, other = AccountFactory(slug="mine"), AccountFactory(slug="other")
    _records(mine, ["p-1", "P-1", "p-2", "p-10"])
    _records(other, ["p-1"])
    found = records_with_key(mine.pk, ["P-1", "p-10"]).values_list("account_id", "external_id")
    assert sorted(found) == [(mine.pk, "P-1"), (mine.pk, "p-1"), (mine.pk, "p-10")]
    assert not records_with_key(mine.pk, ["p-3"]).exists()


@pytest.mark.postgres
def test_postgresql_looks_a_key_up_in_its_hash_index() -> None:
    account = AccountFactory(slug="big")
    _records(account, [f"k-{i}" for i in range(5000)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE exports_exportrecord")
    plan = records_with_key(account.pk, ["K-17", "k-4000"]).explain()
    assert "exportrecord_key" in plan, plan
    assert sorted(records_with_key(account.pk, ["K-17"]).values_list("external_id", flat=True)) == [
        "k-17"
    ]
