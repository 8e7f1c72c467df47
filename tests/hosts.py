"""Worker hosts for tests that run `celery worker` processes as a deployment would: each as
on a host of its own (its hostname, working directory, HOME and CRMSYNC_VAR_DIR), sharing
only the database, the broker (a Redis server of the test's own: the `broker` fixture of
tests/conftest.py) and the environment."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings

from tests.chaos.processes import CeleryProcess, RedisServer
from tests.processes import database_url


def worker_host(
    name: str,
    root: Path,
    broker: RedisServer,
    sandbox: Any,
    *,
    concurrency: int = 1,
    shared_cache: bool = True,
    env: dict[str, str] | None = None,
) -> CeleryProcess:
    """A worker as on its own host, consuming `celery` (and so `celery.links`); with
    `shared_cache` its cache is Redis db 1 of `broker` (else the broker's default)."""
    home = root / name
    (home / "var").mkdir(parents=True)
    environment = {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker.url,
        "CRMSYNC_ENCRYPTION_KEY": ",".join(settings.CRMSYNC_ENCRYPTION_KEYS),
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "CRMSYNC_EXTRA_LOGIN_HOSTS": sandbox.url.removeprefix("https://"),
        "CRMSYNC_VAR_DIR": str(home / "var"),
        "CRMSYNC_LOG_LEVEL": "INFO",
        **({"CRMSYNC_CACHE_URL": broker.url.removesuffix("/0") + "/1"} if shared_cache else {}),
        **(env or {}),
    }
    args = ["worker", "--pool", "prefork", "--concurrency", str(concurrency)]
    args += ["--loglevel", "INFO", "-n", f"worker@{name}", "-Q", "celery"]
    args += ["--without-mingle", "--without-gossip"]
    process = CeleryProcess(name, args, environment, root / "logs")
    process.cwd = home
    return process


def sandbox_accounts(
    sandbox: Any, slugs: Iterable[str], records: int, external_ids: int, **settings: Any
) -> list[Any]:
    """Accounts on the sandbox org, each with `records` records of the chaos workload over
    `external_ids` external ids (tests/chaos/checks.py `workload`) enqueued; `settings`:
    their CRM settings."""
    from exports.outbox import enqueue_many
    from tests.chaos.checks import workload
    from tests.factories import AccountFactory, CRMSettingsFactory

    accounts = []
    for slug in slugs:
        account = AccountFactory(slug=slug, name=slug.title())
        CRMSettingsFactory(
            account=account, login_url=sandbox.url, ca_bundle=str(sandbox.ca_path), **settings
        )
        enqueue_many(account, workload(slug, records, external_ids))
        accounts.append(account)
    return accounts


def send_runs(broker: RedisServer, account_ids: Iterable[int]) -> None:
    """`run_export` for each account, as Flower's apply would send it."""
    from crmsync.celery import app

    with app.connection_for_write(broker.url) as conn:
        for account_id in account_ids:
            app.send_task(
                "exports.tasks.run_export",
                args=[account_id, "api"],
                connection=conn,
                queue="celery",
            )


def stop_all(workers: Iterable[CeleryProcess], lines: int = 30) -> str:
    """Stop the workers; the tail of each one's log, for a failure's message."""
    workers = list(workers)
    for process in workers:
        process.stop()
    return "\n".join(f"--- {w.name}\n{w.tail(lines)}" for w in workers)
