"""`crm_status` shows the last run's outcome and reason: FAILING while the last run failed
(text), `last_run_outcome`, `last_run_message`, `last_run_finished_at` (--json)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from exports.models import ExportRun
from tests.factories import (
    CRMSettingsFactory,
    ExportCursorFactory,
    ExportRecordFactory,
    ExportRunFactory,
)

pytestmark = pytest.mark.django_db

REFUSED = "Salesforce login for account acme failed: invalid_client: invalid client credentials."
FINISHED = datetime(2026, 11, 30, 12, 1, 3, tzinfo=UTC)


@pytest.fixture
def account():
    account = CRMSettingsFactory(account__slug="acme").account
    records = ExportRecordFactory.create_batch(3, account=account)
    ExportCursorFactory(account=account, last_exported_id=records[0].id)
    return account


def status(capsys, account, *options: str):
    call_command("crm_status", "--account", account.slug, *options)
    out = capsys.readouterr().out
    return json.loads(out) if "--json" in options else out


def test_a_failed_last_run_shows_as_failing_with_its_reason(capsys, account):
    ExportRunFactory(account=account)  # an earlier completed run
    failed = ExportRunFactory(
        account=account, outcome=ExportRun.Outcome.FAILED, message=REFUSED, finished_at=FINISHED
    )
    ExportRunFactory(account=account, outcome=ExportRun.Outcome.SKIPPED_LOCKED)  # says nothing

    text = status(capsys, account)
    data = status(capsys, account, "--json")

    assert text.splitlines()[0].startswith("account acme: FAILING (idle), exported up to #")
    assert f"last run #{failed.id} (schedule): failed at 2026-11-30 12:01:03 UTC: {REFUSED}" in text
    assert "once the cause is fixed, the scheduled runs go on by themselves" in text
    assert "crm_export --account acme" in text
    assert data["state"] == "idle"  # the cursor's state, as before
    assert data["failing"] is True
    assert (data["last_run_outcome"], data["last_run_message"]) == ("failed", REFUSED)
    assert data["last_run_finished_at"] == "2026-11-30T12:01:03+00:00"
    assert data["last_run_id"] == failed.id


def test_a_run_that_went_through_ends_failing(capsys, account):
    ExportRunFactory(account=account, outcome=ExportRun.Outcome.FAILED, message=REFUSED)
    ExportRunFactory(account=account, finished_at=FINISHED)

    text = status(capsys, account)
    data = status(capsys, account, "--json")

    assert "FAILING" not in text
    assert "failed at" not in text
    assert "completed at 2026-11-30 12:01:03 UTC" in text
    assert (data["failing"], data["last_run_outcome"], data["last_run_message"]) == (
        False,
        "completed",
        None,
    )


def test_no_runs_yet(capsys, account):
    data = status(capsys, account, "--json")

    assert (data["last_run_outcome"], data["last_run_message"], data["last_run_finished_at"]) == (
        None,
        None,
        None,
    )
    assert "last run" not in status(capsys, account)
