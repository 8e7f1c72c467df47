"""A mistake in a mapping is a system check error at start-up, not a failed export."""

from __future__ import annotations

import pytest

from crmsync.example.models import Person
from exports.mapping import Export, Ref
from exports.mapping.checks import check_exports


def ids_and_messages() -> dict[str, str]:
    return {
        m.id: m.msg
        for m in check_exports()
        if m.obj not in ("CompanyExport", "PersonExport", "TouchpointExport")
    }


def test_the_example_mappings_pass():
    assert [
        m for m in check_exports() if m.obj in ("CompanyExport", "PersonExport", "TouchpointExport")
    ] == []


@pytest.mark.parametrize(
    ("attrs", "code", "says"),
    [
        ({"fields": {"LastName": "surname"}}, "exports.E003", "Person has no attribute 'surname'"),
        (
            {"fields": {"Account": Ref("Account", "ExtId__c", "company.nope")}},
            "exports.E003",
            "Company has no attribute 'nope'",
        ),
        (
            {"fields": {"LastName": "last_name", "lastname": "first_name"}},
            "exports.E004",
            "mapped twice",
        ),
        (
            {"external_id": ("ExtId__c", "last_name")},
            "exports.E005",
            "'last_name' is not unique on Person",
        ),
        ({"sobject": "Bad Name"}, "exports.E002", "is not a Salesforce API name"),
        ({"account": 42}, "exports.E006", "account must be an attribute path or a callable"),
    ],
)
def test_a_bad_mapping_is_a_check_error(registry, attrs, code, says):
    base = {
        "model": Person,
        "sobject": "Contact",
        "external_id": ("ExtId__c", "uuid"),
        "account": "tenant.crm_account",
        "fields": {"LastName": "last_name"},
    }
    type("BadExport", (Export,), {**base, **attrs})

    found = ids_and_messages()

    assert code in found, found
    assert says in found[code]
    assert found[code].startswith("BadExport: ")
