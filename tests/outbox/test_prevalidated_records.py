"""`prevalidated`: records a mapping built skip `validate` only when a quick look proves
them valid; it gives what `validate` gives, and leaves any doubtful record to `validate`
(which names the problem as before)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

from crmsync.example.models import Person, Tenant
from exports.mapping import export_objects
from exports.models import ExportRecord
from exports.record_input import InvalidRecord, validate
from exports.record_quick import prevalidated
from tests.factories import AccountFactory


def record(**fields: Any) -> dict[str, Any]:
    return {
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": "p-1",
        "fields": fields,
    }


GOOD = [
    record(FirstName="Ada", Score__c=7.5, Age__c=3, Ok__c=True, Gone__c=None),
    record(LastName="Ames", Account={"ExtId__c": "c-1"}, Notes__c="tab\tand\nnewline"),
    {
        "operation": "delete",
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": "p-2",
    },
]


def test_prevalidated_gives_what_validate_gives():
    expected = [validate(item) for item in GOOD]  # the names are validated (known) now

    assert prevalidated(GOOD) == expected


@pytest.mark.parametrize(
    "item",
    [
        record(FirstName="A\x00da"),
        record(Account={"ExtId__c": "c\x07"}),
        {**record(FirstName="Ada"), "external_id": "p\x1b"},
        {**record(FirstName="Ada"), "external_id": "."},
        {**record(FirstName="Ada"), "external_id": "  "},
        {**record(FirstName="Ada"), "external_id": "x" * 256},
        record(FirstName="x" * 131_073),
        record(Score__c=float("nan")),
        record(Account={"ExtId__c": None}),
        record(Account={"ExtId__c": "c-1", "Other__c": "c-2"}),
        record(FirstName="Ada", FIRSTNAME="Ada"),
        record(attributes="x"),
        record(ExtId__c="p-other"),
        record(Bad_Name_="x"),
        record(Notes__c=["a list"]),
        record(**{f"F{i}__c": "x" * 120_000 for i in range(9)}),
    ],
)
def test_a_doubtful_record_goes_to_validate_which_rejects_it(item):
    validate(record(FirstName="Ada", Score__c=1.5, Account={"ExtId__c": "c"}))  # names known

    assert prevalidated([*GOOD, item]) is None
    with pytest.raises(InvalidRecord):
        validate(item)


def test_a_name_never_validated_is_left_to_validate():
    item = record(Never_Seen_Before__c="x")

    assert prevalidated([item]) is None
    validate(item)  # valid: now known
    assert prevalidated([item]) == [validate(item)]


@pytest.mark.django_db
def test_a_mapped_control_character_fails_the_save_as_validate_says():
    tenant = Tenant.objects.create(name="Shop", crm_account=AccountFactory(slug="shop"))
    Person.objects.create(tenant=tenant, last_name="Known")  # the mapping's names are known
    ada = Person.objects.create(tenant=tenant, last_name="Ada")

    Person.objects.filter(pk=ada.pk).update(first_name="A\x07da")
    with pytest.raises(InvalidRecord, match="fields.FirstName contains the control character"):
        with transaction.atomic():
            export_objects(Person.objects.filter(pk=ada.pk))
    assert ExportRecord.objects.filter(external_id=str(ada.uuid)).count() == 1

    Person.objects.filter(pk=ada.pk).update(first_name="", last_name="A\x01da")
    with pytest.raises(InvalidRecord, match="fields.LastName contains the control character"):
        call_command(
            "crm_backfill",
            "--account",
            "shop",
            "--export",
            "PersonExport",
            "--no-progress",
            stdout=io.StringIO(),
        )
