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

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from exports.outbox import enqueue_many
from tests.chaos.checks import RULES, export_done, lease_holding_runs, workload
from tests.chaos.processes import CeleryProcess, RedisServer
from tests.conftest import wait_for
from tests.factories import AccountFactory, CRMSettingsFactory
from tests.processes import database_url

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

ACCOUNTS = ("north", "south", "east")
WORKERS = ("host-a", "host-b", "host-c", "host-d")
RECORDS = 750  # calls of 250 records: a few links per run, each on any worker


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def worker(name: str, root: Path, redis_server: RedisServer, sandbox) -> CeleryProcess:
    """A worker as on its own host; the broker on Redis db 0, the shared cache on db 1."""
    home = root / name
    (home / "var").mkdir(parents=True)
    env = {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis_server.url,
        "CRMSYNC_CACHE_URL": redis_server.url.removesuffix("/0") + "/1",
        "CRMSYNC_ENCRYPTION_KEY": ",".join(settings.CRMSYNC_ENCRYPTION_KEYS),
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "CRMSYNC_EXTRA_LOGIN_HOSTS": sandbox.url.removeprefix("https://"),
        "CRMSYNC_VAR_DIR": str(home / "var"),
        "CRMSYNC_LOG_LEVEL": "INFO",
    }
    args = ["worker", "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO"]
    args += ["-n", f"worker@{name}", "-Q", "celery", "--without-mingle", "--without-gossip"]
    process = CeleryProcess(name, args, env, root / "logs")
    process.cwd = home
    return process


def send_runs(redis_server: RedisServer, account_ids: list[int]) -> None:
    from crmsync.celery import app

    with app.connection_for_write(redis_server.url) as conn:
        for account_id in account_ids:
            app.send_task(
                "exports.tasks.run_export",
                args=[account_id, "api"],
                connection=conn,
                queue="celery",
            )


@pytest.mark.usefixtures("transactional_db")
def test_workers_log_in_once_per_account(sandbox, redis_server, tmp_path):
    sandbox.set_rules(RULES)
    sandbox.set_faults(latency_ms=1000)  # a login takes 1 s: the workers' misses overlap
    accounts = []
    for slug in ACCOUNTS:
        account = AccountFactory(slug=slug, name=slug.title())
        CRMSettingsFactory(
            account=account,
            login_url=sandbox.url,
            ca_bundle=str(sandbox.ca_path),
            batch_size=50,
            timeout_seconds=5,
        )
        enqueue_many(account, workload(slug, RECORDS, 500))
        accounts.append(account)
    workers = [worker(name, tmp_path, redis_server, sandbox) for name in WORKERS]
    before = sandbox.stats()["logins"]
    try:
        for process in workers:
            process.start().wait_for_log(" ready.")
        send_runs(redis_server, [account.id for account in accounts])
        wait_for(lambda: all(export_done(a) for a in accounts), timeout=120, interval=0.5)
    finally:
        for process in workers:
            process.stop()
        logs = "\n".join(f"--- {w.name}\n{w.tail(20)}" for w in workers)
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
