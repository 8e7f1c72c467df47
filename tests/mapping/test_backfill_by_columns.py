"""A backfill's chunk planned a column at a time (exports.mapping.columnar): the same values
and digests as row by row, its records proven valid only when each one is, and any doubt
left to the row-by-row path and to `validate`, which names the problem as before."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction

from crmsync.example.crm_exports import PersonExport
from crmsync.example.models import Person, Tenant
from exports.mapping.backfill import backfill
from exports.mapping.columnar import by_columns
from exports.mapping.convert import to_salesforce
from exports.mapping.digests import digest, digests_in_column, digests_of
from exports.models import ExportRecord
from exports.record_input import MAX_STRING_LENGTH, InvalidRecord
from tests.factories import AccountFactory

FIELDS = (("LastName", 0, None), ("Score__c", 1, None), ("Account", 2, "ExtId__c"))
RECORD = ("Contact", "ExtId__c")


def rows(*values: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    return list(values)


def test_values_and_digests_are_those_of_the_rows_one_by_one():
    mixed = rows(
        ("Ann", Decimal("1.10"), "c-1"),
        ("Bob", None, None),
        ("", Decimal("123456.78"), 7),
        ("Dé", 2, True),
    )
    texts = rows(("Ann", None, "c-1"), ("Bob", 1, None), ("Ann", 2, "c-1"), ("Cy", 3, "c-2"))
    for chunk in (mixed, texts):
        _check_one_by_one(chunk)


def _check_one_by_one(chunk: list[tuple[Any, ...]]) -> None:

    by = by_columns(FIELDS, chunk, ["k1", "k2", "k3", "k4"], RECORD)

    assert by is not None and by.valid
    for row, values, digests in zip(chunk, by.values, by.digests, strict=True):
        expected = {
            "LastName": to_salesforce(row[0]),
            "Score__c": to_salesforce(row[1]),
            "Account": None if row[2] is None else {"ExtId__c": to_salesforce(row[2])},
        }
        assert dict(zip(by.names, values, strict=True)) == expected
        assert dict(zip(by.names, digests, strict=True)) == digests_of(expected)


def test_digests_in_a_column_are_digests_of_each_value():
    column = [1, True, "1", None, 0, False, 0.0, -0.0, 1.5, {"ExtId__c": 1}, {"ExtId__c": "1"}]
    assert digests_in_column(column) == [digests_of({"f": v})["f"] for v in column]
    for _ in range(2):  # the second time from memory
        texts = ["a", None, "a", "", "é"]
        assert digests_in_column(texts, texts=True) == [digest(v) for v in texts]
        refs = ["c-1", None, "c-1"]
        expected = [digest(None if v is None else {"ExtId__c": v}) for v in refs]
        assert digests_in_column(refs, "ExtId__c", texts=True) == expected
        assert digests_in_column(refs, "Other__c", texts=True) != expected
        scalars = [1, None, True, 1.0]
        expected = [digest(None if v is None else {"ExtId__c": v}) for v in scalars]
        assert digests_in_column(scalars, "ExtId__c") == expected


@pytest.mark.parametrize(
    ("chunk", "keys"),
    [
        (rows(("bell\x07", 1, None)), ["k"]),  # a control character in a value
        (rows(("x", 1, "c\x00")), ["k"]),  # … in a reference
        (rows(("x", 1, None)), ["k\x1f"]),  # … in a key
        (rows(("x" * (MAX_STRING_LENGTH + 1), 1, None)), ["k"]),  # a text too long
        (rows(("x", 1, None)), [" "]),  # a blank key
        (rows(("x", 1, None)), [".."]),
        (rows(("x", 1, None)), ["k" * 256]),
    ],
)
def test_a_doubtful_chunk_is_not_proven_valid(chunk, keys):
    by = by_columns(FIELDS, chunk, keys, RECORD)
    assert by is not None and not by.valid


def test_names_that_do_not_validate_are_not_proven_valid():
    assert not by_columns((("Bad Name", 0, None),), rows(("x",)), ["k"], RECORD).valid
    assert not by_columns((("ExtId__c", 0, None),), rows(("x",)), ["k"], RECORD).valid


def test_a_value_salesforce_takes_no_type_of_is_left_to_the_rows():
    assert by_columns(FIELDS, rows(("x", Decimal("NaN"), None)), ["k"], RECORD) is None
    assert by_columns(FIELDS, rows(("x", dt.timedelta(1), None)), ["k"], RECORD) is None


@pytest.mark.django_db
def test_a_bad_text_in_a_backfill_is_named_as_before_and_nothing_of_its_chunk_is_written():
    account = AccountFactory(slug="shop")
    tenant = Tenant.objects.create(name="Shop", crm_account=account)
    Person.objects.bulk_create(
        [Person(tenant=tenant, last_name=name) for name in ("Ann", "B\x07ob", "Cy")]
    )

    with transaction.atomic(), pytest.raises(InvalidRecord, match="LastName"):
        backfill(PersonExport, account.pk, [], batch=10)

    assert not ExportRecord.objects.filter(account=account).exists()
