"""`crm_enqueue --account SLUG FILE.jsonl` appends every line's record, in file order."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from exports.models import ExportRecord
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def line(n: int, sobject: str = "Contact") -> str:
    return json.dumps(
        {
            "sobject": sobject,
            "external_id_field": "ExtId__c",
            "external_id": f"ext-{n}",
            "fields": {"LastName": f"Zoë {n}"},
        },
        ensure_ascii=False,
    )


def test_lines_become_records_in_file_order(tmp_path: Path):
    account = AccountFactory(slug="acme")
    path = tmp_path / "records.jsonl"
    # A byte order mark, blank lines and a CRLF line end, as editors on any system write.
    path.write_bytes(
        b"\xef\xbb\xbf"
        + "\n".join([line(1), "", line(2, "Lead"), "   ", line(3) + "\r"]).encode()
        + b"\n\n"
    )
    stdout = io.StringIO()

    call_command("crm_enqueue", "--account", "acme", str(path), stdout=stdout)

    rows = list(ExportRecord.objects.filter(account=account).order_by("id"))
    assert [(r.sobject, r.external_id, r.fields) for r in rows] == [
        ("Contact", "ext-1", {"LastName": "Zoë 1"}),
        ("Lead", "ext-2", {"LastName": "Zoë 2"}),
        ("Contact", "ext-3", {"LastName": "Zoë 3"}),
    ]
    assert (
        stdout.getvalue().strip() == f"enqueued 3 records for acme (ids {rows[0].id}–{rows[-1].id})"
    )


def test_an_empty_file_enqueues_nothing_and_says_so(tmp_path: Path):
    AccountFactory(slug="acme")
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    stdout = io.StringIO()

    call_command("crm_enqueue", "--account", "acme", str(path), stdout=stdout)

    assert "enqueued 0 records for acme" in stdout.getvalue()
    assert not ExportRecord.objects.exists()


def test_one_record_is_counted_in_the_singular(tmp_path: Path):
    account = AccountFactory(slug="acme")
    path = tmp_path / "one.jsonl"
    path.write_text(line(1) + "\n")
    stdout = io.StringIO()

    call_command("crm_enqueue", "--account", "acme", str(path), stdout=stdout)

    record = ExportRecord.objects.get(account=account)
    assert stdout.getvalue().strip() == f"enqueued 1 record for acme (id {record.id})"
