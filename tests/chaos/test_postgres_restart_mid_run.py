"""PostgreSQL restarts mid-run (every connection cut): the batch in flight is retried once
the database answers again, and the export finishes with nothing lost or reordered.

The restarted server is the test's own (`PostgresServer`: initdb into a temporary
directory, a free port), which the test process, the worker and beat all use; the
machine's PostgreSQL, which other test runs share, is never touched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection

from tests.chaos.checks import check_export, export_done, tokens, workload
from tests.chaos.conftest import default_database_on
from tests.chaos.processes import PostgresServer
from tests.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

RECORDS = 5_000


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def chaos_database(transactional_db: None, own_postgres: PostgresServer) -> Iterator[None]:
    """The scenario's database is on the test's own PostgreSQL server."""
    with default_database_on(own_postgres):
        yield


def test_postgres_restart_mid_run_loses_nothing(chaos, chaos_account, sandbox, own_postgres):
    reject = {700, 2_900, 4_100}
    account = chaos_account("pg", workload("pg", RECORDS, 1_250, reject), pause=False)
    sandbox.set_faults(latency_ms=200)
    chaos.schedule_export(every_s=2)
    chaos.worker()
    chaos.beat()

    wait_for(lambda: len(sandbox.writes()) >= 1_500, timeout=90, interval=0.3)
    own_postgres.restart()
    connection.close()  # this process's connection was cut too
    wait_for(lambda: export_done(account), timeout=150, interval=0.5)

    report = check_export(
        "2b PostgreSQL restart mid-run (pause off)",
        sandbox.writes(),
        account,
        tokens("pg", reject),
    )
    report.process_restarts = chaos.crashes
    report.assert_clean()
