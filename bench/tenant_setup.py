"""Helpers of the `tenants` series (bench/tenants.py): many accounts, their runs, the tick.

- `make_accounts`: N accounts on the sandbox org (bulk-created, pause on, one run may take
  the whole backlog), each with `records` contacts enqueued through `enqueue_many`;
  external ids `<slug>-<n>`, so the write log tells the accounts apart.
- `send_runs` / `wait_runs`: `run_export` per account as the tick sends it (trigger
  `schedule`, no run row written first) and the wait for the runs it starts.
- `tick`: `exports.tasks.export_due_accounts` called in this process, timed, its SQL
  counted (CaptureQueriesContext); its messages are then deleted from the bench queue
  (no worker runs during it), after counting those for accounts whose run is still
  going or whose backlog is empty (`due_states`).
- `write_times`: per account slug, the sandbox write log's times (paged over HTTP).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from bench.services import Sandbox

STALL_SECONDS = 120.0


def make_accounts(
    prefix: str, count: int, records: int, sandbox: Sandbox, enabled: bool = True
) -> list[int]:
    """`count` accounts `<prefix>-00001`...; return their ids (in slug order)."""
    from accounts.models import Account, CRMSettings

    accounts = Account.objects.bulk_create(
        [Account(slug=f"{prefix}-{n:05d}", name=f"{prefix} {n}") for n in range(1, count + 1)]
    )
    CRMSettings.objects.bulk_create(
        [
            CRMSettings(
                account=account,
                **sandbox.crm_settings(export_enabled=enabled, pause_on_export_errors=True),
            )
            for account in accounts
        ]
    )
    enqueue(accounts, records, 0)
    return [account.id for account in accounts]


def enqueue(accounts: list[Any], records: int, first: int) -> None:
    """Append `records` contacts to each account (positions first..first+records-1)."""
    from accounts.models import Account
    from exports.outbox import enqueue_many

    for account in accounts:
        if not isinstance(account, Account):
            account = Account.objects.get(id=account)
        enqueue_many(
            account,
            (
                {
                    "sobject": "Contact",
                    "external_id_field": "ExtId__c",
                    "external_id": f"{account.slug}-{i}",
                    "fields": {"LastName": f"Person {i}", "Email": f"p{i}@example.com"},
                }
                for i in range(first, first + records)
            ),
        )


def enable_only(account_ids: list[int]) -> None:
    """Export to CRM on for these accounts and off for every other (what the tick sees)."""
    from accounts.models import CRMSettings

    CRMSettings.objects.exclude(account_id__in=account_ids).update(export_enabled=False)
    CRMSettings.objects.filter(account_id__in=account_ids).update(export_enabled=True)


def last_run_id() -> int:
    from exports.models import ExportRun

    return ExportRun.objects.order_by("-id").values_list("id", flat=True).first() or 0


def send_runs(account_ids: list[int]) -> float:
    """Send `run_export` for each account as the tick does (its priority, one producer);
    the wall time of the first send."""
    from exports.tasks import QUEUED_PRIORITY, run_export

    began = time.time()
    with run_export.app.producer_or_acquire() as producer:
        for account_id in account_ids:
            run_export.apply_async(
                args=[account_id],
                kwargs={"trigger": "schedule"},
                producer=producer,
                priority=QUEUED_PRIORITY,
            )
    return began


def wait_runs(
    account_ids: list[int], after_run_id: int, timeout: float = 7200.0, poll_s: float = 0.05
) -> list[Any]:
    """The finished runs of these accounts newer than `after_run_id`, once each account has
    one; a measurement that makes no progress for STALL_SECONDS is an error."""
    from exports.models import ExportRun

    wanted = set(account_ids)
    deadline = time.monotonic() + timeout
    done, progress_at = -1, time.monotonic()
    while time.monotonic() < deadline:
        runs = list(
            ExportRun.objects.filter(id__gt=after_run_id, account_id__in=wanted).exclude(outcome="")
        )
        if {run.account_id for run in runs} >= wanted:
            return runs
        if len(runs) != done:
            done, progress_at = len(runs), time.monotonic()
        elif time.monotonic() - progress_at > STALL_SECONDS:
            raise RuntimeError(f"{len(runs)}/{len(wanted)} runs done, none for {STALL_SECONDS}s")
        time.sleep(poll_s)
    raise RuntimeError(f"{len(wanted)} runs not done within {timeout:.0f}s; see the worker log")


def tick(redis: Any, queue: str) -> dict[str, Any]:
    """One beat tick in this process: seconds, SQL queries, messages sent and how many of
    them went to accounts running or with nothing to export; then the messages are dropped."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from exports.tasks import export_due_accounts

    with CaptureQueriesContext(connection) as queries:
        began = time.perf_counter()
        sent = export_due_accounts()
        seconds = time.perf_counter() - began
    drop_messages(redis, queue)
    return {"seconds": seconds, "queries": len(queries), "messages": len(sent), **due_states(sent)}


def drop_messages(redis: Any, queue: str) -> None:
    """Delete every message waiting in `queue`: its list at each priority (kombu's Redis
    transport keeps one per priority step: `queue`, `queue\\x06\\x163`, ...)."""
    keys = list(redis.scan_iter(match=f"{queue}*", count=1000))
    keys = [k for k in keys if k.decode().split("\x06")[0] == queue]
    if keys:
        redis.delete(*keys)


def due_states(account_ids: list[int]) -> dict[str, int]:
    """Of these accounts: how many hold a live run lease, how many have no record to export."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              count(*) FILTER (WHERE c.run_id IS NOT NULL AND c.lease_expires_at > now()),
              count(*) FILTER (WHERE NOT EXISTS (
                SELECT 1 FROM exports_exportrecord r
                WHERE r.account_id = a.id AND r.id > COALESCE(c.last_exported_id, 0)))
            FROM accounts_account a LEFT JOIN exports_exportcursor c ON c.account_id = a.id
            WHERE a.id = ANY(%s)
            """,
            [list(account_ids)],
        )
        running, empty = cursor.fetchone()
    return {"to_running": running, "to_empty_backlog": empty}


def analyze() -> None:
    """ANALYZE, as autovacuum does after a bulk insert."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def write_times(sandbox: Sandbox, page: int = 50_000) -> dict[str, list[float]]:
    """Per account slug (external id `<slug>-<n>`), the unix times of its writes, in order."""
    times: dict[str, list[float]] = defaultdict(list)
    since = 0
    while True:
        response = sandbox.http.get(
            f"{sandbox.url}/sandbox/writes", params={"since": since, "limit": page}, timeout=300
        )
        response.raise_for_status()
        body = response.json()
        for write in body["writes"]:
            slug = write["external_id"].rsplit("-", 1)[0]
            times[slug].append(datetime.fromisoformat(write["at"]).timestamp())
        if len(body["writes"]) < page:
            return times
        since = body["last_seq"]


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share 0..1) of `values`."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]
