"""PostgreSQL restarts mid-run (every connection cut): the batch in flight is retried once
the database answers again, and the export finishes with nothing lost or reordered.

The restart is of the machine's PostgreSQL, which other test runs share: it is short
(fast mode) and PostgreSQL is always started again."""

from __future__ import annotations

import pytest

from tests.chaos.checks import check_export, export_done, tokens, workload
from tests.chaos.conftest import restart_postgres
from tests.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

RECORDS = 5_000


def test_postgres_restart_mid_run_loses_nothing(chaos, chaos_account, sandbox):
    reject = {700, 2_900, 4_100}
    account = chaos_account("pg", workload("pg", RECORDS, 1_250, reject), pause=False)
    sandbox.set_faults(latency_ms=200)
    chaos.schedule_export(every_s=2)
    chaos.worker()
    chaos.beat()

    wait_for(lambda: len(sandbox.writes()) >= 1_500, timeout=90, interval=0.3)
    restart_postgres()
    wait_for(lambda: export_done(account), timeout=150, interval=0.5)

    report = check_export(
        "2b PostgreSQL restart mid-run (pause off)",
        sandbox.writes(),
        account,
        tokens("pg", reject),
    )
    report.process_restarts = chaos.crashes
    report.assert_clean()
