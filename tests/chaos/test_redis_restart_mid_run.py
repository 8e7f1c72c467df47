"""Redis stops mid-run (everything queued is lost, as with the machine's Redis, which
keeps nothing on disk) and comes back: the run's lease expires and a scheduled run
picks up at the cursor."""

from __future__ import annotations

import pytest

from tests.chaos.checks import check_export, export_done, tokens, workload
from tests.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

RECORDS = 5_000


def test_redis_restart_mid_run_loses_nothing(chaos, chaos_account, sandbox):
    # A prefork worker whose broker is gone longer than the soft time limit can wedge
    # (the parent, busy reconnecting, signals a child that already finished: billiard's
    # pipe breaks, "Unrecoverable error: UnpicklingError"). Production's limit is 600 s;
    # here it stays above the outage plus kombu's reconnect back-off (2 s, 4 s, ...),
    # with the same order of timings as everywhere in the suite.
    chaos.use(
        CELERY_TASK_SOFT_TIME_LIMIT="20",
        CELERY_TASK_TIME_LIMIT="24",
        CRMSYNC_VISIBILITY_TIMEOUT_S="25",
        CRMSYNC_RUN_LEASE_S="26",
    )
    reject = {2_600}
    account = chaos_account("redis", workload("redis", RECORDS, 1_250, reject), pause=True)
    sandbox.set_faults(latency_ms=200)
    chaos.schedule_export(every_s=2)
    chaos.worker()
    chaos.beat()

    wait_for(lambda: len(sandbox.writes()) >= 1_000, timeout=90, interval=0.3)
    chaos.restart_redis(down_s=3)
    wait_for(lambda: export_done(account, "redis:2600"), timeout=150, interval=0.5)

    report = check_export(
        "2a Redis restart mid-run (pause on)",
        sandbox.writes(),
        account,
        tokens("redis", reject),
        "redis:2600",
    )
    report.process_restarts = chaos.crashes
    report.assert_clean()
