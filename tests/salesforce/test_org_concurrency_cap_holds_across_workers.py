"""Accounts of one org never have more requests in flight than CRMSYNC_ORG_CONCURRENCY,
whatever the number of workers: the calls over the cap wait their turn instead of failing.

The sandbox org refuses a fourth request in flight (`faults.max_concurrent_requests` = 3,
403 REQUEST_LIMIT_EXCEEDED) and answers every one after 300 ms, so calls overlap. Six
accounts point at it with the same connected app (one org), each with records to export.
Two `celery worker` processes of three pool processes each (six runs at once) share a
Redis of the test's own as broker and as the Django cache (CRMSYNC_CACHE_URL), where the
org's call slots live. With CRMSYNC_ORG_CONCURRENCY=3, every run completes, every record
is written once and in order (tests/chaos/checks.py), the org never saw more than three
requests at once and refused none. With the cap off (0), the same workload is refused
(the control: it proves the workload does go over the org's limit).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exports.outbox import enqueue_many
from tests.chaos.checks import RULES, check_export, export_done, lease_holding_runs, workload
from tests.chaos.processes import RedisServer
from tests.conftest import wait_for
from tests.factories import AccountFactory, CRMSettingsFactory
from tests.hosts import NO_REDELIVERY, send_runs, stop_all, worker_host

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

ORG_LIMIT = 3
ACCOUNTS = [f"tenant-{i}" for i in range(6)]
RECORDS = 300  # calls of 50 records (5 batches of 10): 6 calls per account
DEPLOYED = {
    **NO_REDELIVERY,
    "CRMSYNC_ORG_SLOT_WAIT_S": "20",  # well below the soft time limit
}


def accounts_of_one_org(sandbox) -> list:
    accounts = []
    for slug in ACCOUNTS:
        account = AccountFactory(slug=slug, name=slug)
        CRMSettingsFactory(
            account=account,
            login_url=sandbox.url,
            ca_bundle=str(sandbox.ca_path),
            client_id=sandbox.client_id,  # the same connected app: the same org
            batch_size=10,
            timeout_seconds=10,
        )
        enqueue_many(account, workload(slug, RECORDS, 100))
        accounts.append(account)
    return accounts


def start_exports(sandbox, broker: RedisServer, tmp_path: Path, cap: int) -> tuple[list, list]:
    sandbox.set_rules(RULES)
    sandbox.set_faults(latency_ms=300, max_concurrent_requests=ORG_LIMIT)
    accounts = accounts_of_one_org(sandbox)
    env = {**DEPLOYED, "CRMSYNC_ORG_CONCURRENCY": str(cap)}
    workers = [
        worker_host(name, tmp_path, broker, sandbox, concurrency=3, env=env)
        for name in ("host-a", "host-b")
    ]
    for process in workers:
        process.start().wait_for_log(" ready.")
    sandbox.session.delete(f"{sandbox.url}/sandbox/stats", timeout=15).raise_for_status()
    send_runs(broker, [account.id for account in accounts])
    return accounts, workers


@pytest.mark.usefixtures("transactional_db")
def test_accounts_of_one_org_stay_under_its_cap_and_every_run_completes(sandbox, broker, tmp_path):
    accounts, workers = start_exports(sandbox, broker, tmp_path, cap=ORG_LIMIT)
    try:
        wait_for(lambda: all(export_done(a) for a in accounts), timeout=240, interval=0.5)
    finally:
        logs = stop_all(workers)
    stats = sandbox.stats()
    assert stats["refused_concurrent_requests"] == 0, f"{stats}\n{logs}"
    assert 2 <= stats["peak_concurrent_requests"] <= ORG_LIMIT, f"{stats}\n{logs}"
    writes = sandbox.writes()
    for account in accounts:
        runs = lease_holding_runs(account)
        assert [run.outcome for run in runs] == ["completed"], f"{runs}\n{logs}"
        check_export(f"org cap: {account.slug}", writes, account, set()).assert_clean()


@pytest.mark.usefixtures("transactional_db")
def test_without_the_cap_the_same_workload_is_refused(sandbox, broker, tmp_path):
    """The control: this workload does go over the org's limit when nothing caps it."""
    _, workers = start_exports(sandbox, broker, tmp_path, cap=0)
    try:
        wait_for(
            lambda: sandbox.stats()["refused_concurrent_requests"] > 0,
            timeout=120,
            interval=0.5,
            what="the org to refuse a request over its limit",
        )
    finally:
        stop_all(workers)
