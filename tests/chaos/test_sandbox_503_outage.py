"""Salesforce answers 503 to every data request for 30 s: batches are retried with
backoff (a run that exhausts its retries ends `failed`, the next scheduled run goes on),
no ExportError is opened for the outage, and the export finishes."""

from __future__ import annotations

import time

import pytest

from tests.chaos.checks import check_export, export_done, tokens, workload
from tests.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

RECORDS = 5_000
OUTAGE_S = 30


def test_503_for_30_seconds_delays_but_loses_nothing(chaos, chaos_account, sandbox):
    reject = {1_000, 3_333}
    account = chaos_account("s503", workload("s503", RECORDS, 1_250, reject), pause=False)
    sandbox.set_faults(latency_ms=100)
    chaos.schedule_export(every_s=2)
    chaos.worker()
    chaos.beat()

    wait_for(lambda: len(sandbox.writes()) >= 1_500, timeout=90, interval=0.3)
    sandbox.set_faults(fail_next=10**9, fail_status=503)
    outage_ends = time.monotonic() + OUTAGE_S
    written_during_outage = len(sandbox.writes())
    wait_for(lambda: time.monotonic() >= outage_ends, timeout=OUTAGE_S + 5, interval=0.5)
    assert len(sandbox.writes()) == written_during_outage, "nothing is written during the outage"
    sandbox.set_faults(fail_next=0)
    wait_for(lambda: export_done(account), timeout=150, interval=0.5)

    report = check_export(
        "2c sandbox 503 for 30 s (pause off)", sandbox.writes(), account, tokens("s503", reject)
    )
    report.process_restarts = chaos.crashes
    report.assert_clean()
