"""Worker processes share each account's token through Redis: however many of them meet an
account, it is logged in once per token lifetime.

Four `celery worker` processes (as on four hosts: their own hostnames, directories and
var dirs) with CRMSYNC_CACHE_URL on the test's Redis export three accounts of the same org
that start at the same moment. A run's start logs in ahead (1 s at the sandbox's latency)
while its first link already opens in an idle worker, and each link may go to any worker:
without the shared token every worker logs in for every account it meets (11 logins seen
with locmem://), and without the login lock two workers that miss the token at once both
log in (5-6 seen). The sandbox counts the logins it answered: one per account.
"""

from __future__ import annotations

import pytest

from tests.chaos.checks import RULES, export_done, lease_holding_runs
from tests.conftest import wait_for
from tests.hosts import sandbox_accounts, send_runs, stop_all, worker_host

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

ACCOUNTS = ("north", "south", "east")
WORKERS = ("host-a", "host-b", "host-c", "host-d")
RECORDS = 750  # calls of 250 records: a few links per run, each on any worker


@pytest.mark.usefixtures("transactional_db")
def test_workers_log_in_once_per_account(sandbox, broker, tmp_path):
    sandbox.set_rules(RULES)
    sandbox.set_faults(latency_ms=1000)  # a login takes 1 s: the workers' misses overlap
    accounts = sandbox_accounts(sandbox, ACCOUNTS, RECORDS, 500, batch_size=50, timeout_seconds=5)
    workers = [worker_host(name, tmp_path, broker, sandbox) for name in WORKERS]
    before = sandbox.stats()["logins"]
    try:
        for process in workers:
            process.start().wait_for_log(" ready.")
        send_runs(broker, [account.id for account in accounts])
        wait_for(lambda: all(export_done(a) for a in accounts), timeout=120, interval=0.5)
    finally:
        logs = stop_all(workers, lines=20)
    for account in accounts:
        assert [run.outcome for run in lease_holding_runs(account)] == ["completed"], logs
    met = sum(
        process.log().count(f"account={account.slug}") > 0
        for process in workers
        for account in accounts
    )
    assert met > len(ACCOUNTS), f"{met}: each account stayed on one worker\n{logs}"
    logins = sandbox.stats()["logins"] - before
    assert logins == len(ACCOUNTS), f"{logins} logins for {len(ACCOUNTS)} accounts\n{logs}"
