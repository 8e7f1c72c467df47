"""Worker hosts for tests that run `celery worker` processes as a deployment would: each as
on a host of its own (its hostname, working directory, HOME and CRMSYNC_VAR_DIR), sharing
only the database, the broker (a Redis server of the test's own: the `broker` fixture of
tests/conftest.py) and the environment."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from tests.chaos.processes import CeleryProcess, RedisServer
from tests.processes import database_url

# Worker hosts as deployed (tests/chaos/conftest.py's order: request timeout < soft limit
# < hard limit < visibility timeout < run lease), scaled so that no message comes back by
# itself during a test: every copy of a task is one the test sent.
NO_REDELIVERY = {
    "CRMSYNC_VISIBILITY_TIMEOUT_S": "120",
    "CRMSYNC_RUN_LEASE_S": "180",
    "CRMSYNC_UNACKED_RESTORE_INTERVAL_S": "1",
    "CRMSYNC_RETRY_BACKOFF_S": "1",
    "CRMSYNC_RETRY_BACKOFF_MAX_S": "3",
    "CELERY_TASK_SOFT_TIME_LIMIT": "60",
    "CELERY_TASK_TIME_LIMIT": "70",
}


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
    sandbox: Any,
    slugs: Iterable[str],
    records: int,
    external_ids: int,
    reject: set[int] = frozenset(),
    **settings: Any,
) -> list[Any]:
    """Accounts on the sandbox org, each with `records` records of the chaos workload over
    `external_ids` external ids (tests/chaos/checks.py `workload`) enqueued, the positions
    in `reject` breaking the org's validation rule (checks.RULES); `settings`: their CRM
    settings."""
    from exports.outbox import enqueue_many
    from tests.chaos.checks import workload
    from tests.factories import AccountFactory, CRMSettingsFactory

    accounts = []
    for slug in slugs:
        account = AccountFactory(slug=slug, name=slug.title())
        CRMSettingsFactory(
            account=account, login_url=sandbox.url, ca_bundle=str(sandbox.ca_path), **settings
        )
        enqueue_many(account, workload(slug, records, external_ids, reject))
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


@dataclass(frozen=True)
class LiveLink:
    """Where an account's run stood when its live link was requeued: the run holding the
    lease, the cursor's position and the task id of the link that last moved it."""

    run_id: int
    after_id: int
    link_id: str


def live_link(account_id: int) -> LiveLink | None:
    """The account's live link as the cursor shows it (Flower's view of the running task);
    None when no run holds the lease."""
    from exports.models import ExportCursor

    cursor = (
        ExportCursor.objects.filter(account_id=account_id)
        .values("run_id", "last_exported_id", "link_id")
        .first()
    )
    if cursor is None or cursor["run_id"] is None:
        return None
    return LiveLink(cursor["run_id"], cursor["last_exported_id"], cursor["link_id"])


def requeue_live_link(broker: RedisServer, account_id: int, copies: int) -> LiveLink | None:
    """What an engineer (or the broker) does to a running export, all at once: `copies`
    copies of the live link requeued from Flower (`export_batch` with the live arguments,
    new task ids), the live link's own message again (its task id: a redelivery while it
    still runs; once the cursor names a link) and `run_export` naming the live run. Returns
    the live link they copied; None (nothing sent) when no run holds the lease."""
    from crmsync.celery import app

    live = live_link(account_id)
    if live is None:
        return None
    link_args = [account_id, live.run_id, live.after_id]
    with app.connection_for_write(broker.url) as conn:
        send = functools.partial(app.send_task, connection=conn, queue="celery")
        for _ in range(copies):
            send("exports.tasks.export_batch", args=link_args)
        if live.link_id:
            send("exports.tasks.export_batch", args=link_args, task_id=live.link_id)
        send("exports.tasks.run_export", args=[account_id, "api", live.run_id])
    return live


def messages_left(broker: RedisServer) -> int:
    """Messages on the broker not yet done: queued (every queue and priority) or taken by
    a worker and not acknowledged (acks_late: acknowledged when the task has ended)."""
    import redis

    client = redis.Redis.from_url(broker.url)
    try:
        queued = sum(client.llen(key) for key in client.scan_iter() if client.type(key) == b"list")
        return queued + client.hlen("unacked")
    finally:
        client.close()


def stop_all(workers: Iterable[CeleryProcess], lines: int = 30) -> str:
    """Stop the workers; the tail of each one's log, for a failure's message."""
    workers = list(workers)
    for process in workers:
        process.stop()
    return "\n".join(f"--- {w.name}\n{w.tail(lines)}" for w in workers)
