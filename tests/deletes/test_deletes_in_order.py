"""Deletions travel in the outbox's order, by Salesforce Id, in the same calls as upserts
(real worker on Redis, the sandbox over HTTPS)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command

import exports
from exports.models import ExportCursor, ExportError, ExportRun, SalesforceKey
from exports.outbox import enqueue_delete
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import enqueue

pytestmark = [
    pytest.mark.integration,
    pytest.mark.concurrency,
]  # both databases: the key map's SQL differs


def contact(ext: str, **fields: Any) -> dict[str, Any]:
    return {
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": ext,
        "fields": fields,
    }


def deletion(ext: str) -> dict[str, Any]:
    return {
        "operation": "delete",
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": ext,
    }


def ops_of(sandbox: Any, ext: str) -> list[str]:
    return [w["op"] for w in sandbox.writes() if w["external_id"] == ext]


def in_org(sandbox: Any) -> dict[str, dict[str, Any]]:
    return {r["ExtId__c"]: r for r in sandbox.records("Contact", ["Id", "ExtId__c", "LastName"])}


def test_upsert_delete_upsert_of_one_key_ends_present_with_its_newest_fields(
    sandbox, celery_worker, crm_account
):
    account = crm_account(pause=True)
    enqueue(
        account,
        [
            contact("k1", LastName="First"),
            contact("k2", LastName="Other"),
            deletion("k1"),
            contact("k1", LastName="Again"),
        ],
    )

    run = run_and_wait(account, timeout=60)

    assert (run.outcome, run.exported, run.failed) == (ExportRun.Outcome.COMPLETED, 4, 0)
    assert ops_of(sandbox, "k1") == ["upsert", "delete", "upsert"]
    org = in_org(sandbox)
    assert org["k1"]["LastName"] == "Again"
    first, deleted, again = [w for w in sandbox.writes() if w["external_id"] == "k1"]
    assert deleted["sf_id"] == first["sf_id"] != again["sf_id"]  # re-created: a new record
    key = SalesforceKey.objects.get(account=account, key="k1")
    assert (key.salesforce_id, key.operation, key.deleted_at, key.created) == (
        again["sf_id"],
        "upsert",
        None,
        True,
    )
    assert exports.salesforce_id(account, "Contact", "ExtId__c", "K1") == again["sf_id"]


def test_a_stream_of_upserts_and_deletions_costs_about_a_call_per_thousand(
    sandbox, celery_worker, crm_account
):
    account = crm_account(pause=True)
    enqueue(account, [contact(f"m{i}", LastName=f"M{i}") for i in range(1000)])
    assert run_and_wait(account, timeout=60).exported == 1000
    mixed = []
    for i in range(1000):  # 50/50, in runs of 100: batches of either kind share calls
        mixed.append(deletion(f"m{i}") if (i // 100) % 2 == 0 else contact(f"n{i}", LastName="N"))
    enqueue(account, mixed)

    run = run_and_wait(account, timeout=60)

    assert (run.outcome, run.exported) == (ExportRun.Outcome.COMPLETED, 1000)
    assert run.api_calls <= 2, "1,000 upserts and deletions travel as ~1 Composite call"
    org = in_org(sandbox)
    assert not any(f"m{i}" in org for i in range(1000) if (i // 100) % 2 == 0)
    assert all(f"n{i}" in org for i in range(1000) if (i // 100) % 2 == 1)
    deleted = SalesforceKey.objects.filter(account=account, deleted_at__isnull=False).count()
    assert deleted == 500


def test_deleting_a_key_crmsync_never_wrote_finds_it_by_query(sandbox, celery_worker, crm_account):
    sf = sandbox.salesforce()  # a record made in the org by someone else
    made = sf.restful(
        "composite/sobjects/Contact/ExtId__c",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Contact"}, "ExtId__c": "Legacy-1", "LastName": "Old"}
            ],
        },
    )[0]["id"]
    account = crm_account(pause=True)
    enqueue_delete(account, "Contact", "ExtId__c", "legacy-1")  # the org ignores case

    run = run_and_wait(account, timeout=60)

    assert (run.outcome, run.exported) == (ExportRun.Outcome.COMPLETED, 1)
    assert "Legacy-1" not in in_org(sandbox)
    assert [w["sf_id"] for w in sandbox.writes() if w["op"] == "delete"] == [made]
    key = SalesforceKey.objects.get(account=account)
    assert (key.salesforce_id, key.operation) == (made, "delete")
    assert key.deleted_at is not None
    assert exports.salesforce_id(account, "Contact", "ExtId__c", "legacy-1") is None


def test_deleting_an_absent_key_is_success(sandbox, celery_worker, crm_account):
    account = crm_account(pause=True)
    enqueue(
        account,
        [contact("gone", LastName="G"), deletion("gone"), deletion("gone"), deletion("never")],
    )

    run = run_and_wait(account, timeout=60)

    assert (run.outcome, run.exported, run.failed) == (ExportRun.Outcome.COMPLETED, 4, 0)
    assert ops_of(sandbox, "gone") == ["upsert", "delete"]  # the second deletion sent nothing
    assert ops_of(sandbox, "never") == []
    assert not ExportError.objects.exists()


REFUSE_CUSTOMERS = {
    "objects": {
        "Contact": {
            "delete_fail": [
                {
                    "when": {"field": "Type__c", "equals": "Customer"},
                    "code": "DELETE_FAILED",
                    "message": "Your attempt to delete Customer could not be completed",
                }
            ]
        }
    }
}


def test_a_refused_deletion_pauses_there_and_nothing_after_it_is_written(
    sandbox, celery_worker, crm_account
):
    account = crm_account(pause=True)
    enqueue(account, [contact("c1", LastName="C", Type__c="Customer"), contact("l1", LastName="L")])
    assert run_and_wait(account, timeout=60).exported == 2
    sandbox.set_rules(REFUSE_CUSTOMERS)
    ids = enqueue(account, [deletion("l1"), deletion("c1"), contact("after", LastName="A")])

    run = run_and_wait(account, timeout=60)

    assert run.outcome == ExportRun.Outcome.PAUSED
    cursor = ExportCursor.objects.get(account=account)
    assert (cursor.paused_record_id, cursor.last_exported_id) == (ids[1], ids[0])
    assert cursor.last_error_code == "DELETE_FAILED"
    status = io.StringIO()
    call_command("crm_status", "--account", account.slug, "--json", stdout=status)
    assert json.loads(status.getvalue())["paused_operation"] == "delete"
    assert ops_of(sandbox, "after") == [] and ops_of(sandbox, "c1") == ["upsert"]
    assert ops_of(sandbox, "l1") == ["upsert", "delete"]

    sandbox.set_rules({})
    resumed = run_and_wait(account, timeout=60)

    assert resumed.outcome == ExportRun.Outcome.COMPLETED
    assert ops_of(sandbox, "c1") == ["upsert", "delete"] and ops_of(sandbox, "after") == ["upsert"]
    assert ExportError.objects.get(account=account).status == ExportError.Status.RESOLVED


def test_pause_off_a_refused_deletion_is_an_error_the_reexport_deletes_later(
    sandbox, celery_worker, crm_account
):
    from exports.run.reexport import reexport_errors

    account = crm_account(pause=False)
    enqueue(account, [contact("c1", LastName="C", Type__c="Customer")])
    assert run_and_wait(account, timeout=60).exported == 1
    sandbox.set_rules(REFUSE_CUSTOMERS)
    enqueue(account, [deletion("c1"), contact("after", LastName="A")])

    run = run_and_wait(account, timeout=60)

    assert (run.outcome, run.exported, run.failed) == (ExportRun.Outcome.COMPLETED, 1, 1)
    error = ExportError.objects.get(account=account)
    assert (error.error_code, error.record.operation) == ("DELETE_FAILED", "delete")
    assert summary_of(reexport_errors(account.id)) == (0, 0, 1)  # still refused

    sandbox.set_rules({})
    assert summary_of(reexport_errors(account.id)) == (1, 0, 0)
    assert ops_of(sandbox, "c1") == ["upsert", "delete"]
    assert SalesforceKey.objects.get(account=account, key="c1").deleted_at is not None


def summary_of(summary: Any) -> tuple[int, int, int]:
    return (summary.resolved, summary.superseded, summary.failed)
