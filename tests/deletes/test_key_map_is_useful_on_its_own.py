"""The key map on its own: `crm_lookup`, the admin's search, the `records_exported` signal,
and deletions in `crm_enqueue` JSON lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from exports.keymap import KeyWrite, note_writes, records_exported
from exports.models import ExportRecord
from exports.outbox import InvalidRecord, validate
from exports.tools.runner import run_and_wait
from tests.deletes.test_deletes_in_order import contact, deletion
from tests.factories import AccountFactory
from tests.pipeline_fixtures import enqueue

SF_ID = "0035g0000000001AAA"


def keyed(account, ext="Ext-1", sf_id=SF_ID, delete=False, record_id=7):
    write = KeyWrite(record_id, "Contact", "ExtId__c", ext.casefold(), ext, sf_id, True, delete)
    note_writes(account.pk, [write], timezone.now())


def lookup(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("crm_lookup", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


@pytest.mark.django_db
def test_crm_lookup_prints_the_pinned_keys():
    account = AccountFactory(slug="acme")
    keyed(account)
    args = ["--account", "acme", "--object", "Contact", "--external-id-field", "ExtId__c"]

    code, out = lookup(*args, "EXT-1", "--json")

    assert code == 0
    answer = json.loads(out)
    assert set(answer) == {
        "salesforce_id",
        "last_record_id",
        "last_written_at",
        "operation",
        "deleted",
    }
    assert (
        answer["salesforce_id"],
        answer["last_record_id"],
        answer["operation"],
        answer["deleted"],
    ) == (
        SF_ID,
        7,
        "upsert",
        False,
    )
    keyed(account, delete=True, sf_id=None, record_id=9)
    code, out = lookup(*args, "ext-1", "--json")
    assert (code, json.loads(out)["deleted"], json.loads(out)["salesforce_id"]) == (0, True, SF_ID)
    code, out = lookup(*args, "nobody")
    assert code == 1 and "not in the key map" in out


@pytest.mark.integration
def test_records_exported_tells_each_committed_call(sandbox, celery_worker, crm_account):
    heard = []

    def listener(sender, account_id, writes, **kwargs):
        heard.extend((w.external_id, w.salesforce_id, w.delete) for w in writes)

    def broken(sender, **kwargs):
        raise RuntimeError("a host app's bug")

    records_exported.connect(listener, weak=False)
    records_exported.connect(broken, weak=False)
    try:
        account = crm_account(pause=True)
        enqueue(account, [contact("a", LastName="A"), deletion("a")])
        run = run_and_wait(account, timeout=60)
    finally:
        records_exported.disconnect(listener)
        records_exported.disconnect(broken)

    assert (run.outcome, run.exported) == ("completed", 2)
    ids = [sf_id for _, sf_id, _ in heard]
    assert [(ext, delete) for ext, _, delete in heard] == [("a", False), ("a", True)]
    assert ids[0] and ids[0] == ids[1]


@pytest.mark.django_db
def test_crm_enqueue_takes_deletions(tmp_path: Path):
    account = AccountFactory(slug="acme")
    path = tmp_path / "records.jsonl"
    rows = [
        {
            "sobject": "Contact",
            "external_id_field": "ExtId__c",
            "external_id": "a",
            "fields": {"LastName": "A"},
        },
        {
            "operation": "delete",
            "sobject": "Contact",
            "external_id_field": "ExtId__c",
            "external_id": "a",
        },
        {
            "operation": "upsert",
            "sobject": "Contact",
            "external_id_field": "ExtId__c",
            "external_id": "a",
            "fields": {},
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    call_command("crm_enqueue", "--account", "acme", str(path), stdout=io.StringIO())

    assert list(
        ExportRecord.objects.filter(account=account).values_list("operation", "fields")
    ) == [
        ("upsert", {"LastName": "A"}),
        ("delete", {}),
        ("upsert", {}),
    ]


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (
            {"operation": "erase"},
            'operation is \'erase\'; it is "upsert" (the default) or "delete"',
        ),
        ({"operation": "delete", "fields": {"LastName": "x"}}, "a deletion carries no fields"),
        ({"operation": "upsert", "fields": None}, "fields must be a JSON object"),
    ],
)
def test_a_bad_operation_is_a_clear_error(item, problem):
    base = {"sobject": "Contact", "external_id_field": "ExtId__c", "external_id": "a", "fields": {}}
    with pytest.raises(InvalidRecord) as caught:
        validate({**base, **item})
    assert problem in caught.value.problem
