"""One record's story: every outbox version of a key, what each call did with it, and the
key's Salesforce Id (docs/admin.md › A record's story).

The result of each version is recorded when its call is committed, in the cursor move's
transaction, one statement per call (`note_call`): the page is a read (`story`), not a
reconstruction (exports.reporting.record_story). The re-export, a skip and a give-up add
theirs (`note`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models

from exports.json_rows import rows_param, select_rows
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

    class Meta:
        verbose_name = "record result"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.record_id} {self.outcome} at {self.at}"


Result = tuple[int, str, str, str]  # (record id, outcome, error code, message)

_COLUMNS = "record_id, run_id, outcome, error_code, message, at"


def note_call(
    account_id: int,
    run_id: int | None,
    writes: Sequence[KeyWrite],
    results: Sequence[Result],
    now: datetime,
) -> None:
    """Record a committed call: its key map writes (`keymap.upsert_sql`) and each record's
    result. PostgreSQL: one statement (the key map's upsert as a data-modifying WITH);
    SQLite: one statement each."""
    if not results and not writes:
        return
    with connection.cursor() as cursor:
        if not results:
            cursor.execute(*upsert_sql(account_id, writes, now))
            return
        sql, params = _results_sql(run_id, results, now)
        if writes and connection.vendor == "postgresql":
            upsert, upsert_params = upsert_sql(account_id, writes, now)
            sql, params = f"WITH k AS ({upsert}) {sql}", [*upsert_params, *params]
        elif writes:
            cursor.execute(*upsert_sql(account_id, writes, now))
        cursor.execute(sql, params)


def _results_sql(
    run_id: int | None, results: Sequence[Result], now: datetime
) -> tuple[str, list[Any]]:
    table = RecordOutcome._meta.db_table
    rows = [
        (rid, run_id, outcome, code, message[:MAX_MESSAGE], now)
        for rid, outcome, code, message in results
    ]
    select = select_rows(("bigint", "bigint", "text", "text", "text", "timestamptz"))
    return f"INSERT INTO {table} ({_COLUMNS}) {select}", [rows_param(rows)]


def note(
    record_ids: Iterable[int],
    outcome: str,
    now: datetime,
    run_id: int | None = None,
    code: str = "",
    message: str = "",
) -> None:
    """Record one result for several records (a re-export, a skip, a give-up)."""
    results = [(rid, outcome, code, message) for rid in record_ids]
    if results:
        with connection.cursor() as cursor:
            cursor.execute(*_results_sql(run_id, results, now))
