"""The stack runs on a Redis that needs a password (docs/operations.md › Deployment › Redis AUTH and
TLS): a worker process whose CELERY_BROKER_URL and CRMSYNC_CACHE_URL carry the
credentials — `requirepass`, an ACL user with the default user off, and that user over
TLS only (`rediss://...?ssl_cert_reqs=required&ssl_ca_certs=...`) — takes a run from the
broker, shares its token and describe through the cache (Redis db 1), and exports every
record once, in order. The password never appears in the worker's log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chaos.checks import RULES, check_export, export_done, lease_holding_runs
from tests.conftest import wait_for
from tests.hosts import sandbox_accounts, send_runs, stop_all, worker_host
from tests.password_redis import PasswordRedis

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

PASSWORD = "redis-pw-Qz81vT"
SETUPS = {
    "requirepass": {},
    "acl-user": {"user": "crmsync"},
    "acl-user-tls": {"user": "crmsync", "tls": True},
}


@pytest.mark.parametrize("setup", SETUPS)
@pytest.mark.usefixtures("transactional_db")
def test_a_worker_exports_through_a_redis_that_needs_a_password(
    sandbox: Any, tmp_path: Path, setup: str
) -> None:
    server = PasswordRedis(tmp_path / "redis", PASSWORD, **SETUPS[setup]).start()
    try:
        assert server.refuses_without_password()
        sandbox.set_rules(RULES)
        (account,) = sandbox_accounts(sandbox, ["north"], 120, 40, batch_size=25)
        cache_url = {"CRMSYNC_CACHE_URL": server.url_for(1)}
        worker = worker_host("host-a", tmp_path, server, sandbox, env=cache_url)
        try:
            worker.start().wait_for_log(" ready.")
            send_runs(server, [account.id])
            wait_for(lambda: export_done(account), timeout=120, interval=0.5, what="the export")
        finally:
            logs = stop_all([worker])
        cached = [key.decode() for key in server.client(db=1).scan_iter()]
        log = worker.log()
    finally:
        server.stop()

    assert [run.outcome for run in lease_holding_runs(account)] == ["completed"], logs
    check_export("a Redis with a password", sandbox.writes(), account, set()).assert_clean()
    assert any(":sf-token:" in key for key in cached), cached  # the cache was used
    assert any(":sf-describe:" in key for key in cached), cached
    assert "redis" in log and PASSWORD not in log
    assert "insecure SSL" not in log  # kombu's warning for rediss:// with no TLS options
