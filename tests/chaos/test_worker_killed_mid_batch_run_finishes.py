"""kill -9 of the worker in the middle of a batch, while the sandbox answers slowly: a new
worker gets the batch back after the visibility timeout and the same run finishes."""

from __future__ import annotations

import pytest

from exports.models import ExportRun
from tests.chaos.checks import export_done, lease_holding_runs, tokens, workload
from tests.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

RECORDS = 5_000


@pytest.mark.parametrize("pause", [True, False], ids=["pause-on", "pause-off"])
def test_worker_killed_mid_batch_the_run_finishes(chaos, chaos_account, sandbox, pause):
    slug = f"kill-{'on' if pause else 'off'}"
    reject = {3_100} if pause else {500, 1_700, 3_100, 4_400}
    account = chaos_account(slug, workload(slug, RECORDS, 1_250, reject), pause=pause)
    pause_at = f"{slug}:3100" if pause else None
    sandbox.set_faults(latency_ms=400)
    worker = chaos.worker()

    chaos.send("exports.tasks.run_export", account.id, "api")
    wait_for(lambda: len(sandbox.writes()) >= 1_200, timeout=90, interval=0.3)
    worker.kill_hard()
    chaos.worker()
    wait_for(lambda: export_done(account, pause_at), timeout=120, interval=0.5)

    runs = lease_holding_runs(account)
    assert len(runs) == 1, f"one run, continued by redelivery; got {runs}\n{chaos.logs()}"
    expected = ExportRun.Outcome.PAUSED if pause else ExportRun.Outcome.COMPLETED
    assert runs[0].outcome == expected, runs[0].message
    mode = "pause on" if pause else "pause off"
    chaos.assert_export_clean(
        f"1 kill -9 worker mid-batch ({mode})", account, tokens(slug, reject), pause_at
    )
