"""`crm_enqueue` keeps an integer external_id as its decimal text and says so; other
non-string external ids are refused with their line number (exports/management/commands/
crm_enqueue.py says why)."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from exports.models import ExportRecord
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def jsonl(tmp_path, *external_ids):
    path = tmp_path / "records.jsonl"
    lines = [
        json.dumps(
            {
                "sobject": "Contact",
                "external_id_field": "ExtId__c",
                "external_id": ext,
                "fields": {"LastName": "Lovelace"},
            }
        )
        for ext in external_ids
    ]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_integer_ids_are_stored_as_text_and_the_summary_says_so(tmp_path, capsys):
    AccountFactory(slug="acme")

    call_command("crm_enqueue", "--account", "acme", jsonl(tmp_path, 42, "person-1", 7))

    out = capsys.readouterr().out
    assert out.strip().endswith('; 2 gave external_id as an integer, stored as text (42 → "42")')
    assert list(ExportRecord.objects.order_by("id").values_list("external_id", flat=True)) == [
        "42",
        "person-1",
        "7",
    ]


def test_string_ids_need_no_note(tmp_path, capsys):
    AccountFactory(slug="acme")

    call_command("crm_enqueue", "--account", "acme", jsonl(tmp_path, "42"))

    assert "integer" not in capsys.readouterr().out


@pytest.mark.parametrize("value", [1.5, True])
def test_other_non_strings_are_refused_with_the_line(tmp_path, value):
    AccountFactory(slug="acme")

    with pytest.raises(CommandError) as refused:
        call_command("crm_enqueue", "--account", "acme", jsonl(tmp_path, "a", value))

    assert refused.value.returncode == 2
    assert "line 2" in str(refused.value)
    assert "external_id must be a string or an integer" in str(refused.value)
    assert not ExportRecord.objects.exists()
