"""Workers on two hosts share only the database, the broker and the environment.

Two `celery worker` processes stand for two hosts: different hostnames (`-n`), working
directories, HOME and CRMSYNC_VAR_DIR, and an environment built from nothing but
DATABASE_URL, CELERY_BROKER_URL, the keys (CRMSYNC_ENCRYPTION_KEY, DJANGO_SECRET_KEY) and
the settings every host is deployed with (timings, the allowed login host). Both export
accounts; one is killed (-9) in the middle of its run; the other finishes every run, and
the sandbox's write log shows each account's records written once, in order
(tests/chaos/checks.py: nothing lost, duplicated or reordered; one run per account). No
local file and no per-process cache (tokens, describes, connections) is needed for that.
"""

from __future__ import annotations

import pytest

from tests.chaos.checks import RULES, check_export, export_done, lease_holding_runs
from tests.conftest import wait_for
from tests.hosts import sandbox_accounts, send_runs, stop_all, worker_host

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

ACCOUNTS = ("north", "south", "east")
RECORDS = 2_000
# The same on every host, as a deployment sets them (tests/chaos/conftest.py's order:
# request timeout < soft limit < hard limit < visibility timeout < run lease).
DEPLOYED = {
    "CRMSYNC_VISIBILITY_TIMEOUT_S": "8",
    "CRMSYNC_RUN_LEASE_S": "12",
    "CRMSYNC_CLAIM_MARGIN_S": "2",  # claim to send: request timeout + 1 + 2 s < visibility
    "CRMSYNC_UNACKED_RESTORE_INTERVAL_S": "1",
    "CRMSYNC_RETRY_BACKOFF_S": "1",
    "CRMSYNC_RETRY_BACKOFF_MAX_S": "3",
    "CELERY_TASK_SOFT_TIME_LIMIT": "5",
    "CELERY_TASK_TIME_LIMIT": "7",
}


@pytest.mark.usefixtures("transactional_db")
def test_workers_on_two_hosts_export_every_record_once_when_one_dies(sandbox, broker, tmp_path):
    sandbox.set_rules(RULES)
    sandbox.set_faults(latency_ms=300)
    # calls of 250 records: many calls per run
    accounts = sandbox_accounts(sandbox, ACCOUNTS, RECORDS, 600, batch_size=50, timeout_seconds=3)
    first, second = (
        worker_host(name, tmp_path, broker, sandbox, env=DEPLOYED) for name in ("host-a", "host-b")
    )
    try:
        for worker in (first, second):
            worker.start().wait_for_log(" ready.")
        send_runs(broker, [account.id for account in accounts])
        wait_for(
            lambda: (
                "export.batch account=" in first.log() and "export.batch account=" in second.log()
            ),
            timeout=60,
            what="both hosts exporting",
        )
        assert not all(export_done(a) for a in accounts)
        first.kill_hard()  # mid-run: its call in flight, its link unacknowledged
        wait_for(lambda: all(export_done(a) for a in accounts), timeout=180, interval=0.5)
    finally:
        logs = stop_all((first, second))
    writes = sandbox.writes()
    for account in accounts:
        runs = lease_holding_runs(account)
        assert [run.outcome for run in runs] == ["completed"], f"{runs}\n{logs}"
        check_export(
            f"two hosts, one killed: {account.slug}", writes, account, set()
        ).assert_clean()
