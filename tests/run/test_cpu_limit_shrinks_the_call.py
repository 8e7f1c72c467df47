"""A call whose records' Apex CPU time adds up past the org's 10 s limit fails whole; the
records go through in smaller calls, none is an ExportError, and the account's records per
call shrinks so the next calls pass at once."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from exports.models import ExportCursor, ExportError, ExportRun
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import contacts, enqueue, written_external_ids

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("pause", "cpu_ms"),
    # Pause on: one call is one transaction (all-or-none Composite); 1,000 records at 15 ms
    # need 15 s of the 10 s limit. Pause off: each batch of 200 is its own; at 60 ms, 12 s.
    [(True, 15), (False, 60)],
    ids=["pause on", "pause off"],
)
def test_cpu_limit_completes_with_no_errors_and_a_smaller_call(
    sandbox, celery_worker, crm_account, settings, admin_client, pause, cpu_ms
):
    # The org spends its CPU time as server time, at 1/100 of real time to keep this test
    # short; the target server time of a call is scaled alike (5 s → 50 ms).
    sandbox.set_rules(
        {
            "objects": {"Contact": {"cpu_ms_per_record": cpu_ms}},
            "faults": {"cpu_limit_ms": 10000, "server_time_scale": 0.01},
        }
    )
    settings.CRMSYNC_CALL_TARGET_S = 0.05
    account = crm_account(pause=pause)
    enqueue(account, contacts(3000))

    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=120)

    assert (run.outcome, run.exported, run.failed) == (ExportRun.Outcome.COMPLETED, 3000, 0)
    assert not ExportError.objects.exists()
    assert sorted(written_external_ids(sandbox)) == sorted(f"person-{i}" for i in range(1, 3001))
    cursor = ExportCursor.objects.get(account=account)
    assert cursor.records_per_call is not None and cursor.records_per_call * cpu_ms <= 10000
    # The first call failed and was narrowed down; after that the calls fitted the limit.
    assert run.api_calls <= 25 + 3000 // cursor.records_per_call

    out = StringIO()
    call_command("crm_status", "--account", account.slug, "--json", stdout=out)
    assert json.loads(out.getvalue())["records_per_call"] == cursor.records_per_call
    page = admin_client.get(f"/admin/exports/status/{account.slug}/").content.decode()
    assert f"Calls carry up to <strong>{cursor.records_per_call}</strong>" in page
