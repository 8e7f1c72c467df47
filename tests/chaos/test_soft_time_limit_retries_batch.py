"""A batch that runs out of its soft time limit (the sandbox stalls one request) is
retried as a whole; our bookkeeping counts each record once and opens each
ExportError once — nothing of the cut batch is half-applied."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from exports.models import ExportError, ExportRun
from tests.chaos.checks import export_done, tokens, workload
from tests.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

RECORDS = 5_000


@pytest.mark.parametrize("pause", [True, False], ids=["pause-on", "pause-off"])
def test_soft_time_limit_in_a_batch_retries_it_whole(chaos, chaos_account, sandbox, pause):
    slug = f"soft-{'on' if pause else 'off'}"
    reject = {3_900} if pause else {1_234, 1_301, 3_900}
    pause_at = f"{slug}:3900" if pause else None
    # The request timeout (10 s) outlasts the soft limit (5 s), so the limit cuts the batch.
    account = chaos_account(
        slug, workload(slug, RECORDS, 1_250, reject), pause=pause, timeout_seconds=10
    )
    sandbox.set_faults(latency_ms=100)
    worker = chaos.worker()

    chaos.send("exports.tasks.run_export", account.id, "api")
    wait_for(lambda: len(sandbox.writes()) >= 1_000, timeout=90, interval=0.3)
    sandbox.set_faults(stall_next=1, stall_ms=5_500)
    wait_for(lambda: export_done(account, pause_at), timeout=120, interval=0.5)

    assert "SoftTimeLimitExceeded" in worker.log(), "the soft time limit never cut a batch"
    runs = ExportRun.objects.filter(account=account).exclude(outcome="skipped_locked")
    counts = runs.aggregate(Sum("attempted"), Sum("exported"), Sum("failed"))
    done = 3_900 if pause else RECORDS
    assert counts["attempted__sum"] == done + (1 if pause else 0), counts
    assert counts["exported__sum"] == done - (0 if pause else len(reject)), counts
    assert set(ExportError.objects.filter(account=account).values_list("attempts", flat=True)) == {
        1
    }
    mode = "pause on" if pause else "pause off"
    chaos.assert_export_clean(
        f"4 soft time limit in a batch ({mode})", account, tokens(slug, reject), pause_at
    )
