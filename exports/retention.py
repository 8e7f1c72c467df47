"""Retention (`crm_prune`, beat `CRMExport_Prune`): delete what no run or re-export needs.

`prune(dry_run=False)`:

1. Roll finished runs up into the /metrics totals (run_totals), so deleting runs never
   makes a counter go down.
2. ExportErrors resolved, dismissed or superseded more than CRMSYNC_RETAIN_ERRORS_DAYS
   ago — except those on a record the re-export still reads (rule 3c below: its error's
   status is what tells the re-export whether that record was written).
3. Exported outbox records older than CRMSYNC_RETAIN_RECORDS_DAYS, per account, except:
   a. a record at or after the account's cursor (`last_exported_id`: not done yet, or
      the last one done);
   b. a record any ExportError points at (the FK is RESTRICT: it cannot go anyway);
   c. a record the re-export's newest-wins rule reads: newer than an open error's record
      with the same external id (`reexport._fields_written_later` reads such records to
      drop the fields they wrote).
4. ExportRuns finished more than CRMSYNC_RETAIN_RUNS_DAYS ago (only runs already in the
   totals), and Notifications as old.
5. Keys of the key map deleted more than CRMSYNC_RETAIN_RECORDS_DAYS ago (tombstones), and
   records' results (their stories) recorded as long ago.

Each step deletes in chunks of CRMSYNC_PRUNE_CHUNK rows, each chunk its own short
transaction, walking ids upwards, so a run exporting the same account at the same time
waits for no lock longer than one chunk; after each chunk the prune rests
CRMSYNC_PRUNE_REST times as long as the chunk took, leaving the database and the CPU to
the exports (bench/prune.py). `dry_run` counts what would go and deletes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from exports.models import (
    ExportCursor,
    ExportError,
    ExportRecord,
    ExportRun,
    Notification,
    RecordOutcome,
    SalesforceKey,
)
from exports.reporting import run_totals


@dataclass
class PruneSummary:
    records: int = 0
    errors: int = 0
    runs: int = 0
    notifications: int = 0
    keys: int = 0  # key map tombstones
    results: int = 0  # records' results (exports.story) as old as the records' retention
    dry_run: bool = False

    def as_dict(self) -> dict[str, int | bool]:
        return asdict(self)


def needed_by_reexport(record_id: int, external_id: str, open_from: dict[str, int]) -> bool:
    """Rule 3c: is the record newer than an open error's record of its external id?
    `open_from` maps a case-folded external id → the smallest record id with an open
    error. Folded whatever the org's describe says (the re-export compares as the org
    does, case-insensitively by default): keeping more is safe, keeping less is not."""
    first_open = open_from.get(external_id.casefold())
    return first_open is not None and record_id > first_open


def prune(
    dry_run: bool = False, now: datetime | None = None, chunk: int | None = None
) -> PruneSummary:
    """Steps 1-5 of the module docstring; how many rows of each kind went (or would)."""
    now = now or timezone.now()
    chunk = chunk or settings.CRMSYNC_PRUNE_CHUNK
    summary = PruneSummary(dry_run=dry_run)
    if not dry_run:
        run_totals.roll_up(now)
    summary.errors = _prune_errors(now - _days(settings.CRMSYNC_RETAIN_ERRORS_DAYS), dry_run, chunk)
    cutoff = now - _days(settings.CRMSYNC_RETAIN_RECORDS_DAYS)
    for cursor in ExportCursor.objects.filter(last_exported_id__gt=0).order_by("account_id"):
        summary.records += _prune_records(cursor, cutoff, dry_run, chunk)
    runs_cutoff = now - _days(settings.CRMSYNC_RETAIN_RUNS_DAYS)
    rolled_up = run_totals.next_mark(now) if dry_run else run_totals.mark()
    runs = ExportRun.objects.filter(finished_at__lt=runs_cutoff, id__lte=rolled_up)
    summary.runs = _delete_in_chunks(runs.exclude(outcome=""), dry_run, chunk)
    notifications = Notification.objects.filter(created_at__lt=runs_cutoff)
    summary.notifications = _delete_in_chunks(notifications, dry_run, chunk)
    tombstones = SalesforceKey.objects.filter(deleted_at__lt=cutoff)
    summary.keys = _delete_in_chunks(tombstones, dry_run, chunk)
    old_results = RecordOutcome.objects.filter(at__lt=cutoff)  # records' stories, as old
    summary.results = _delete_in_chunks(old_results, dry_run, chunk)
    return summary


def _prune_errors(cutoff: datetime, dry_run: bool, chunk: int) -> int:
    """Step 2, per account (rule 3c needs the account's open errors)."""
    closed = ExportError.objects.closed().filter(resolved_at__lt=cutoff)
    total = 0
    for account_id in closed.values_list("account_id", flat=True).distinct().order_by():
        open_from = _open_from(account_id)
        rows = closed.filter(account_id=account_id).values_list(
            "id", "record_id", "record__external_id"
        )
        total += _delete_walking(rows, partial(_error_may_go, open_from), dry_run, chunk)
    return total


def _error_may_go(open_from: dict[str, int], row: tuple[Any, ...]) -> bool:
    """Rule 3c for a closed error's row (id, record id, the record's external id)."""
    return not needed_by_reexport(row[1], row[2], open_from)


def _prune_records(cursor: ExportCursor, cutoff: datetime, dry_run: bool, chunk: int) -> int:
    """Step 3 for one account."""
    open_from = _open_from(cursor.account_id)
    rows = (
        ExportRecord.objects.filter(
            account_id=cursor.account_id,
            id__lt=cursor.last_exported_id,  # rule a
            created_at__lt=cutoff,
        )
        .exclude(Exists(ExportError.objects.filter(record_id=OuterRef("id"))))  # rule b
        .values_list("id", "external_id")
    )
    return _delete_walking(
        rows,
        lambda row: not needed_by_reexport(row[0], row[1], open_from),  # rule c
        dry_run,
        chunk,
    )


def _open_from(account_id: int) -> dict[str, int]:
    """Case-folded external id → the smallest record id with an open error, for one account."""
    open_from: dict[str, int] = {}
    rows = ExportError.objects.filter(account_id=account_id).open()
    for external_id, record_id in rows.values_list("external_id", "record_id").order_by(
        "record_id"
    ):
        open_from.setdefault(external_id.casefold(), record_id)
    return open_from


def _delete_walking(
    rows: QuerySet[Any, Any],
    may_go: Callable[[tuple[Any, ...]], bool],
    dry_run: bool,
    chunk: int,
) -> int:
    """Read `rows` (id first) a chunk at a time in id order; delete those `may_go` allows,
    each chunk in its own transaction. The delete states the read conditions again (an
    ExportError may have appeared on a record since it was read: the RESTRICT FK and the
    re-checked query keep it)."""
    deleted, after, began = 0, 0, time.monotonic()
    while True:
        batch = list(rows.filter(id__gt=after).order_by("id")[:chunk])
        if not batch:
            return deleted
        after = batch[-1][0]
        ids = [row[0] for row in batch if may_go(row)]
        if ids and not dry_run:
            deleted += _delete_ids(rows, ids)
        elif ids:
            deleted += len(ids)
        _rest(began)
        began = time.monotonic()


def _delete_ids(rows: QuerySet[Any, Any], ids: Iterable[int]) -> int:
    """DELETE those of `ids` that still match `rows`' conditions, in one statement (a
    plain DELETE: the rows' conditions already exclude everything a foreign key keeps)."""
    query = rows.filter(id__in=list(ids)).values("id").query
    sql, params = query.sql_with_params()
    table = connection.ops.quote_name(rows.model._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE id IN ({sql})", params)  # noqa: S608
        return cursor.rowcount


def _delete_in_chunks(queryset: QuerySet[Any], dry_run: bool, chunk: int) -> int:
    if dry_run:
        return queryset.count()
    deleted = 0
    while True:
        began = time.monotonic()
        ids = list(queryset.order_by("id").values_list("id", flat=True)[:chunk])
        if not ids:
            return deleted
        with transaction.atomic():
            deleted += queryset.model._default_manager.filter(id__in=ids).delete()[0]
        _rest(began)


def _rest(began: float) -> None:
    """Rest CRMSYNC_PRUNE_REST times as long as the chunk since `began` took: the prune is
    background work, and leaves the database and the CPU to the exports running now."""
    time.sleep((time.monotonic() - began) * settings.CRMSYNC_PRUNE_REST)


def _days(days: int) -> timedelta:
    return timedelta(days=days)
