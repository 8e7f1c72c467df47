"""A failed login ends the run `failed` with a clear reason, and no ExportErrors."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from exports.models import ExportCursor, ExportError, ExportRun
from tests.pipeline_fixtures import contacts, enqueue

pytestmark = pytest.mark.integration


def test_wrong_secret_fails_the_run_with_the_reason_on_the_cursor(
    sandbox, celery_worker, crm_account, capsys
):
    account = crm_account(client_secret="wrong-secret-value")
    enqueue(account, contacts(5))

    with pytest.raises(SystemExit) as exit_status:
        call_command("crm_export", "--account", account.slug, "--json")

    assert exit_status.value.code == 1
    out = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "failed"
    assert out["error_message"] and "wrong-secret-value" not in out["error_message"]
    cursor = ExportCursor.objects.get(account=account)
    assert cursor.last_exported_id == 0 and cursor.run_id is None
    assert cursor.last_error_message == out["error_message"]
    assert ExportRun.objects.get(account=account).outcome == ExportRun.Outcome.FAILED
    assert not ExportError.objects.exists()
    assert sandbox.writes() == []


def test_crm_export_json_reports_a_paused_run(sandbox, celery_worker, crm_account, capsys):
    from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL

    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account()
    ids = enqueue(account, contacts(10, **{"person-4": {"Type__c": "Customer"}}))

    call_command("crm_export", "--account", account.slug, "--json")

    out = json.loads(capsys.readouterr().out)
    assert {k: out[k] for k in ("outcome", "attempted", "exported", "failed")} == {
        "outcome": "paused",
        "attempted": 4,
        "exported": 3,
        "failed": 1,
    }
    assert (out["paused_record_id"], out["paused_external_id"]) == (ids[3], "person-4")
    assert out["error_code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert out["error_message"] == "Customers need an email"
    call_command("crm_status", "--account", account.slug, "--json")
    status = json.loads(capsys.readouterr().out)
    assert (
        status["state"],
        status["paused_record_id"],
        status["backlog"],
        status["open_errors"],
    ) == (
        "paused",
        ids[3],
        7,
        1,
    )
