"""One record's story: every outbox version of a key, what each call did with it, and the
key's Salesforce Id (docs/admin.md › A record's story).

The result of each version is recorded when its call is committed, in the cursor move's
transaction, one statement per call (`note_call`): the page is a read (`story`), not a
reconstruction (exports.reporting.record_story). The re-export, a skip and a give-up add
theirs (`note`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models

from exports.json_rows import bound_cursor, rows_param, select_rows
from exports.keymap import KeyWrite, upsert_sql

MAX_MESSAGE = 1000  # characters of Salesforce's message kept per result


class RecordOutcome(models.Model):
    """What happened to one outbox record at one moment (a call committed, a re-export, a
    skip, a give-up). Kept until crm_prune removes those older than the records' retention."""

    class Outcome(models.TextChoices):
        WRITTEN = "written", "written"
        REJECTED = "rejected", "rejected"
        SUPERSEDED = "superseded", "superseded by newer data"
        SKIPPED = "skipped", "skipped while paused"
        GIVEN_UP = "given_up", "given up"
        DISMISSED = "dismissed", "dismissed"

    # No foreign key: crm_prune deletes records with plain DELETEs, and results by age.
    record_id = models.BigIntegerField("record", db_index=True)
    run_id = models.BigIntegerField("run", null=True, blank=True)
    outcome = models.CharField("result", max_length=16, choices=Outcome.choices)
    error_code = models.CharField("error code", max_length=100, blank=True)
    message = models.TextField("message", blank=True)
    at = models.DateTimeField("when", db_index=True)
    # A call's written records share one row: their ids, from `record_id` to `last_record_id`.
    last_record_id = models.BigIntegerField("last record", null=True, blank=True, db_index=True)
    record_ids = models.JSONField("records", null=True, blank=True)

    class Meta:
        verbose_name = "record result"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.record_id} {self.outcome} at {self.at}"


Result = tuple[int, str, str, str]  # (record id, outcome, error code, message)

_COLUMNS = "record_id, run_id, outcome, error_code, message, at, last_record_id, record_ids"
_TYPES = ("bigint", "bigint", "text", "text", "text", "timestamptz", "bigint", "jsonb")


def note_call(
    account_id: int,
    run_id: int | None,
    writes: Sequence[KeyWrite],
    results: Sequence[Result],
    now: datetime,
    written: Sequence[int] = (),
) -> None:
    """Record a committed call: its key map writes (`keymap.upsert_sql`), each rejected
    record's result, and one row for the records it wrote (`written`, their ids). PostgreSQL:
    one statement (the key map's upsert as a data-modifying WITH); SQLite: one each."""
    rows = _rows(run_id, results, now)
    if written:
        ids = sorted(written)
        rows.append((ids[0], run_id, "written", "", "", now, ids[-1], json.dumps(ids)))
    if not rows and not writes:
        return
    with bound_cursor() as cursor:
        if not rows:
            cursor.execute(*upsert_sql(account_id, writes, now))
            return
        sql, params = _results_sql(rows)
        if writes and connection.vendor == "postgresql":
            upsert, upsert_params = upsert_sql(account_id, writes, now)
            sql, params = f"WITH k AS ({upsert}) {sql}", [*upsert_params, *params]
        elif writes:
            cursor.execute(*upsert_sql(account_id, writes, now))
        cursor.execute(sql, params)


def _rows(run_id: int | None, results: Sequence[Result], now: datetime) -> list[tuple[Any, ...]]:
    return [
        (rid, run_id, outcome, code, message[:MAX_MESSAGE], now, None, None)
        for rid, outcome, code, message in results
    ]


def _results_sql(rows: list[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    table = RecordOutcome._meta.db_table
    return f"INSERT INTO {table} ({_COLUMNS}) {select_rows(_TYPES)}", [rows_param(rows)]


def note(
    record_ids: Iterable[int],
    outcome: str,
    now: datetime,
    run_id: int | None = None,
    code: str = "",
    message: str = "",
) -> None:
    """Record one result for several records (a re-export, a skip, a give-up)."""
    rows = _rows(run_id, [(rid, outcome, code, message) for rid in record_ids], now)
    if rows:
        with connection.cursor() as cursor:
            cursor.execute(*_results_sql(rows))
