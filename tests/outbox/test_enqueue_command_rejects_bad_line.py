"""`crm_enqueue` rejects a bad line with its line number, exit status 2, and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from exports.models import ExportRecord
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

GOOD = json.dumps(
    {"sobject": "Contact", "external_id_field": "ExtId__c", "external_id": "p", "fields": {}}
).encode()

BAD_LINES = {
    "invalid JSON": (b'{"sobject": "Contact",', "not valid JSON"),
    "not an object": (b"[1, 2]", "must be a JSON object, not a list"),
    "missing external id": (
        b'{"sobject": "Contact", "external_id_field": "ExtId__c", "fields": {}}',
        "external_id is missing",
    ),
    "invalid field name": (
        b'{"sobject": "Contact", "external_id_field": "ExtId__c", "external_id": "p",'
        b' "fields": {"Last Name": "x"}}',
        "'Last Name' is not a Salesforce API name",
    ),
    "not UTF-8": (GOOD.replace(b'"p"', b'"p\xff"'), "is not UTF-8"),
    "duplicate key": (
        b'{"sobject": "Contact", "sobject": "Lead", "external_id_field": "ExtId__c",'
        b' "external_id": "p", "fields": {}}',
        "'sobject' appears twice",
    ),
    "NaN": (GOOD.replace(b"{}", b'{"Score__c": NaN}'), "NaN is not a JSON number"),
    "10 MB line": (GOOD.replace(b"{}", b'{"Big__c": "' + b"x" * 10_000_000 + b'"}'), "longer than"),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize(("bad", "message"), BAD_LINES.values(), ids=BAD_LINES.keys())
def test_bad_line_is_reported_with_its_number_and_nothing_is_written(
    tmp_path: Path, bad: bytes, message: str
):
    account = AccountFactory(slug="acme")
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"\n".join([GOOD, b"", GOOD, bad, GOOD]) + b"\n")

    with pytest.raises(CommandError) as excinfo:
        call_command("crm_enqueue", "--account", "acme", str(path))

    text = str(excinfo.value)
    assert text.startswith("line 4: "), text[:200]
    assert message in text
    assert text.endswith("— nothing of the file was written")
    assert excinfo.value.returncode == 2
    assert not ExportRecord.objects.filter(account=account).exists()


def test_unknown_account_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "records.jsonl"
    path.write_bytes(GOOD + b"\n")

    with pytest.raises(CommandError, match="no account with slug 'nobody'") as excinfo:
        call_command("crm_enqueue", "--account", "nobody", str(path))

    assert excinfo.value.returncode == 2
    assert not ExportRecord.objects.exists()


def test_missing_file_is_a_clear_error(tmp_path: Path):
    AccountFactory(slug="acme")

    with pytest.raises(CommandError, match="cannot open .*missing.jsonl: No such file") as excinfo:
        call_command("crm_enqueue", "--account", "acme", str(tmp_path / "missing.jsonl"))

    assert excinfo.value.returncode == 2
