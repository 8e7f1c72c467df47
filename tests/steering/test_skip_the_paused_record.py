"""Skip the record an account is paused at: the export goes on after it, its error stays
open for the re-export, pause stays on, and a newer write of its key is never overwritten."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from exports.models import ExportCursor, ExportError, ExportRun, Notification, RecordOutcome
from exports.run.reexport import reexport_errors
from exports.run.steering import NotPausedThere, skip_paused_record
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, enqueue

pytestmark = pytest.mark.integration


def contact(ext: str, **fields: Any) -> dict[str, Any]:
    return {
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": ext,
        "fields": fields,
    }


def paused_account(sandbox: Any, crm_account: Any) -> tuple[Any, list[int]]:
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(pause=True, alert_emails="ops@example.com")
    ids = enqueue(
        account,
        [
            contact("a", LastName="A"),
            contact("bad", LastName="B", Type__c="Customer"),
            contact("c", LastName="C"),
            contact("bad2", LastName="D", Type__c="Customer"),
        ],
    )
    assert run_and_wait(account, timeout=60).outcome == ExportRun.Outcome.PAUSED
    return account, ids


def skip(*args: str) -> str:
    out = io.StringIO()
    call_command("crm_skip", *args, stdout=out)
    return out.getvalue()


def test_crm_skip_goes_on_after_the_record_and_pause_stays_on(sandbox, celery_worker, crm_account):
    account, ids = paused_account(sandbox, crm_account)

    said = skip("--account", account.slug, "--record", str(ids[1]), "--i-understand-inconsistency")

    assert f"skipped record #{ids[1]}" in said
    error = ExportError.objects.get(record_id=ids[1])
    assert (error.status, error.skipped_by.endswith("(crm_skip)")) == ("open", True)
    assert error.skipped_at is not None
    assert Notification.objects.filter(account=account, event="skipped").count() == 1
    assert RecordOutcome.objects.filter(record_id=ids[1], outcome="skipped").count() == 1

    run = run_and_wait(account, timeout=60)

    assert run.outcome == ExportRun.Outcome.PAUSED  # pause stays on: the next bad record parks
    cursor = ExportCursor.objects.get(account=account)
    assert (cursor.paused_record_id, cursor.last_exported_id) == (ids[3], ids[2])
    assert [w["external_id"] for w in sandbox.writes()] == ["a", "c"]


def test_crm_skip_refuses_without_the_flag_or_when_not_paused_there(
    sandbox, celery_worker, crm_account
):
    account, ids = paused_account(sandbox, crm_account)
    base = ["--account", account.slug]

    with pytest.raises(CommandError) as no_flag:
        skip(*base, "--record", str(ids[1]))
    with pytest.raises(CommandError) as elsewhere:
        skip(*base, "--record", str(ids[2]), "--i-understand-inconsistency")

    assert no_flag.value.returncode == 2 and "--i-understand-inconsistency" in str(no_flag.value)
    assert elsewhere.value.returncode == 2 and f"paused at record #{ids[1]}" in str(elsewhere.value)
    cursor = ExportCursor.objects.get(account=account)
    assert (cursor.state, cursor.paused_record_id) == ("paused", ids[1])
    assert not ExportError.objects.exclude(skipped_by="").exists()


def test_a_run_that_moved_on_first_wins(sandbox, celery_worker, crm_account):
    account, ids = paused_account(sandbox, crm_account)
    sandbox.set_rules({})  # the cause is fixed: the next run writes the record and moves on
    assert run_and_wait(account, timeout=60).outcome == ExportRun.Outcome.COMPLETED

    with pytest.raises(NotPausedThere):
        skip_paused_record(account.pk, ids[1], "admin")
    assert ExportError.objects.get(record_id=ids[1]).status == "resolved"


def test_a_run_holding_the_lease_wins(sandbox, celery_worker, crm_account):
    account, ids = paused_account(sandbox, crm_account)
    from django.utils import timezone

    ExportCursor.objects.filter(account=account).update(
        run_id=999, lease_expires_at=timezone.now() + timezone.timedelta(minutes=5)
    )
    with pytest.raises(NotPausedThere, match="retrying the record right now"):
        skip_paused_record(account.pk, ids[1], "admin")
    assert ExportCursor.objects.get(account=account).paused_record_id == ids[1]


def test_a_skipped_record_never_overwrites_a_newer_write_of_its_key(
    sandbox, celery_worker, crm_account
):
    account, ids = paused_account(sandbox, crm_account)
    skip_paused_record(account.pk, ids[1], "admin")
    sandbox.set_rules({})
    enqueue(account, [contact("bad", LastName="Newer", Type__c="Lead")])  # corrected, newer
    assert run_and_wait(account, timeout=60).outcome == ExportRun.Outcome.COMPLETED
    writes = len(sandbox.writes())

    summary = reexport_errors(account.id)

    assert (summary.resolved, summary.superseded) == (0, 1)
    assert len(sandbox.writes()) == writes
    names = {
        r["ExtId__c"]: r["LastName"] for r in sandbox.records("Contact", ["ExtId__c", "LastName"])
    }
    assert names["bad"] == "Newer"
