"""`.` and `..` are refused as external ids: in the single-record upsert URL
(`sobjects/S/F/<id>`, crm_replay) HTTP clients remove them as path segments, so the
request would upsert somewhere else. `crm_enqueue` names the line; nothing is written."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from exports.models import ExportRecord
from exports.outbox import InvalidRecord, validate
from tests.factories import AccountFactory


def record(external_id: str) -> dict[str, object]:
    return {"sobject": "Contact", "external_id_field": "ExtId__c", "external_id": external_id,
            "fields": {"LastName": "Dot"}}  # fmt: skip


@pytest.mark.parametrize("external_id", [".", ".."])
def test_dot_segments_are_refused(external_id: str) -> None:
    with pytest.raises(InvalidRecord, match="path segment"):
        validate(record(external_id))


@pytest.mark.parametrize("external_id", ["...", ".a", "a.", "a/..", "%2e"])
def test_other_ids_with_dots_are_fine(external_id: str) -> None:
    assert validate(record(external_id)).external_id == external_id


@pytest.mark.django_db
def test_crm_enqueue_names_the_line_and_writes_nothing(tmp_path) -> None:
    AccountFactory(slug="acme")
    path = tmp_path / "records.jsonl"
    path.write_text('{"sobject": "Contact", "external_id_field": "ExtId__c", '
                    '"external_id": "ok-1", "fields": {}}\n'
                    '{"sobject": "Contact", "external_id_field": "ExtId__c", '
                    '"external_id": "..", "fields": {}}\n')  # fmt: skip

    with pytest.raises(CommandError) as refused:
        call_command("crm_enqueue", "--account", "acme", str(path), stdout=io.StringIO())

    assert refused.value.returncode == 2
    assert str(refused.value).startswith("line 2: external_id '..' cannot be sent")
    assert not ExportRecord.objects.exists()
