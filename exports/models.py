"""The outbox, the per-account cursor, runs and record-level errors (docs/semantics.md)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import F, Func, Q, Value

from accounts.models import Account


class ExportRecord(models.Model):
    """One record to write to Salesforce, or to delete from it. Append-only; `id` is the
    export order."""

    class Operation(models.TextChoices):
        UPSERT = "upsert", "upsert"
        DELETE = "delete", "delete"

    id = models.BigAutoField(primary_key=True)
    # No index of its own: exportrecord_account_id (account, id) serves every query by
    # account (and the account's deletion); one index fewer to write per record. No
    # constraint in the database either: its check of every record at commit was a fifth
    # of PostgreSQL's work for an enqueue. Every enqueue locks the account's row first and
    # refuses an account that does not exist (exports.outbox), and Django deletes an
    # account's records with it (CASCADE).
    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="export_records",
        verbose_name="account",
        db_index=False,
        db_constraint=False,
    )
    sobject = models.CharField("object", max_length=80)
    external_id_field = models.CharField("external id field", max_length=80)
    external_id = models.CharField("external id", max_length=255)
    fields = models.JSONField(
        "fields", help_text="Salesforce field name → value (a deletion has none)."
    )
    operation = models.CharField(
        "operation",
        max_length=8,
        choices=Operation.choices,
        default=Operation.UPSERT,
        help_text="upsert: write the fields by external id; delete: delete the record the "
        "external id names (docs/semantics.md › Deletions).",
    )
    created_at = models.DateTimeField("created", auto_now_add=True)

    class Meta:
        verbose_name = "export record"
        indexes = [
            models.Index(fields=["account", "id"], name="exportrecord_account_id"),
        ]
        # And exportrecord_key, by migration (a hash index on PostgreSQL, which Meta
        # cannot declare for SQLite too): the key's records (`records_with_key`).

    def __str__(self) -> str:
        deletion = " (delete)" if self.operation == self.Operation.DELETE else ""
        return f"#{self.id} {self.sobject} {self.external_id}{deletion}"


class RecordKey(Func):
    """An outbox record's key as exportrecord_key indexes it, the external id in upper
    case and the account: `UPPER(external_id) || ' ' || account_id`. On PostgreSQL a hash
    index: a B-tree of random keys cost a backfill ~7 µs of PostgreSQL's CPU a record and
    outgrew its shared buffers. Compare it with `RecordKey(Value(...), Value(...))` (the
    same SQL on both sides, so the database's own UPPER decides): `records_with_key`."""

    output_field = models.TextField()
    arity = 2
    template = "(UPPER(%(external_id)s) || ' ' || %(account)s)"
    cast = "CAST(%s AS TEXT)"

    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, list[Any]]:
        external_id, params = compiler.compile(self.source_expressions[0])
        account, more = compiler.compile(self.source_expressions[1])
        sql = self.template % {
            "external_id": self.cast % external_id,
            "account": self.cast % account,
        }
        return sql, [*params, *more]


def records_with_key(account_id: int, external_ids: Iterable[str]) -> models.QuerySet[Any]:
    """The outbox records of the account whose external id is one of `external_ids` as
    the org compares them (case-insensitively; narrow further in Python where a field is
    case-sensitive), found by exportrecord_key."""
    wanted = [RecordKey(Value(e), Value(account_id)) for e in dict.fromkeys(external_ids)]
    return (
        ExportRecord.objects.alias(record_key=RecordKey("external_id", "account_id"))
        .filter(record_key__in=wanted)
        .filter(account_id=account_id)
    )


class ExportCursor(models.Model):
    """How far an account's export got, and where it is paused."""

    class State(models.TextChoices):
        IDLE = "idle", "idle"
        RUNNING = "running", "running"
        PAUSED = "paused", "paused"

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="export_cursor", verbose_name="account"
    )
    last_exported_id = models.BigIntegerField(
        "last exported record",
        default=0,
        help_text="Every record of the account up to this id is done (written or logged).",
    )
    state = models.CharField("state", max_length=16, choices=State.choices, default=State.IDLE)
    paused_record = models.ForeignKey(
        ExportRecord,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="paused at record",
    )
    paused_since = models.DateTimeField("paused since", null=True, blank=True)
    last_error_code = models.CharField("last error code", max_length=100, blank=True)
    last_error_message = models.TextField("last error message", blank=True)
    run_id = models.BigIntegerField("run holding the lease", null=True, blank=True)
    lease_expires_at = models.DateTimeField("lease expires at", null=True, blank=True)
    link_id = models.CharField(
        "last link",
        max_length=64,
        blank=True,
        default="",
        help_text="Celery task id of the export_batch link that last claimed the right to send "
        "(and moved the cursor): the same link, redelivered or retried after it moved the "
        "cursor, goes on from here.",
    )
    link_try = models.PositiveIntegerField(
        "try of the last link",
        default=0,
        help_text="The try (Celery retries) of that link that holds the claim; a released claim "
        "names the next try, so an earlier try or a copy of it sends nothing.",
    )
    claim_expires_at = models.DateTimeField(
        "claim to send expires at",
        null=True,
        blank=True,
        help_text="Until when that link holds the right to send (renewed with every cursor "
        "move); empty: released. A live claim is never taken over by another copy.",
    )
    records_per_call = models.PositiveIntegerField(
        "records per call",
        null=True,
        blank=True,
        help_text="What the next call carries, adapted to the org (Apex CPU limit, slow calls) "
        "under the batch size ceiling; empty: the ceiling.",
    )
    retry_only = models.JSONField(
        "records to retry",
        null=True,
        blank=True,
        help_text="Pause off: the records of the last call that failed transiently; the retry "
        "sends only these. Kept here, not in the task message, so a message cannot skip records.",
    )
    retry_until_id = models.BigIntegerField(
        "retried call ends at",
        null=True,
        blank=True,
        help_text="The last record of the call being retried: once the retried records go "
        "through, the cursor moves here.",
    )
    instance_url = models.CharField(
        "instance URL",
        max_length=255,
        blank=True,
        default="",
        help_text="The org's instance, as its last login named it (links into the org).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "export cursor"

    def __str__(self) -> str:
        return f"{self.account}: {self.state} after #{self.last_exported_id}"


class ExportRunQuerySet(models.QuerySet):
    def add_api_calls(self, api_calls: int) -> int:
        """Count API requests on the runs (none: no query)."""
        if not api_calls:
            return 0
        return self.update(api_calls=F("api_calls") + api_calls)


class ExportRun(models.Model):
    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "schedule"
        MANUAL = "manual", "manual"
        REEXPORT = "reexport", "re-export"
        API = "api", "API"

    class Outcome(models.TextChoices):
        COMPLETED = "completed", "completed"
        PAUSED = "paused", "paused"
        FAILED = "failed", "failed"
        SKIPPED_LOCKED = "skipped_locked", "skipped (another run holds the lease)"
        NOTHING_TO_DO = "nothing_to_do", "nothing to do"

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="export_runs", verbose_name="account"
    )
    trigger = models.CharField("trigger", max_length=16, choices=Trigger.choices)
    started_at = models.DateTimeField("started", auto_now_add=True)
    finished_at = models.DateTimeField("finished", null=True, blank=True)
    outcome = models.CharField(
        "outcome",
        max_length=16,
        choices=Outcome.choices,
        blank=True,
        help_text="Empty while running.",
    )
    attempted = models.PositiveIntegerField("attempted", default=0)
    exported = models.PositiveIntegerField("exported", default=0)
    failed = models.PositiveIntegerField("failed", default=0)
    api_calls = models.PositiveIntegerField("API calls", default=0)
    first_record_id = models.BigIntegerField("first record", null=True, blank=True)
    last_record_id = models.BigIntegerField("last record", null=True, blank=True)
    message = models.TextField("message", blank=True, help_text="Why a run failed or was stopped.")

    objects = ExportRunQuerySet.as_manager()

    class Meta:
        verbose_name = "export run"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["account", "-id"], name="exportrun_account_id"),
            # /metrics (API calls of the last 24 hours) and crm_prune (old runs).
            models.Index(fields=["finished_at"], name="exportrun_finished"),
        ]

    def __str__(self) -> str:
        return f"run {self.id} of {self.account}: {self.outcome or 'running'}"


class ExportErrorQuerySet(models.QuerySet):
    """An ExportError's life: `open` until it is `resolve`d (its record went through),
    `supersede`d (newer data wrote every field it held), `dismiss`ed (an admin) or, open
    longer than the account allows, `give_up` (then a hand re-export or dismissal still
    ends it). Each change is one UPDATE; the number changed is returned."""

    def open(self) -> ExportErrorQuerySet:
        return self.filter(status=ExportError.Status.OPEN)

    def closed(self) -> ExportErrorQuerySet:
        """Resolved, superseded, dismissed or given up (kept until retention ends)."""
        Status = ExportError.Status
        return self.filter(
            status__in=[Status.RESOLVED, Status.DISMISSED, Status.SUPERSEDED, Status.GIVEN_UP]
        )

    def resolve(self, now: datetime) -> int:
        """The record went through: the errors are resolved."""
        return self._close(ExportError.Status.RESOLVED, now, last_attempt_at=now)

    def supersede(self, now: datetime) -> int:
        """Newer data of the same external id wrote every field: nothing left to send."""
        return self._close(ExportError.Status.SUPERSEDED, now, last_attempt_at=now)

    def dismiss(self, now: datetime) -> int:
        """An admin dismissed the errors (no attempt made)."""
        return self._close(ExportError.Status.DISMISSED, now)

    def give_up(self, now: datetime) -> int:
        """Open longer than the account allows: the daily re-export stops trying."""
        return self.open().update(status=ExportError.Status.GIVEN_UP, resolved_at=now)

    def _close(self, status: str, now: datetime, **also: Any) -> int:
        """Close open errors, and given-up ones (a hand re-export or dismissal ends them)."""
        Status = ExportError.Status
        return self.filter(status__in=[Status.OPEN, Status.GIVEN_UP]).update(
            status=status, resolved_at=now, **also
        )

    def rejected_again(
        self, error_code: str, message: str, fields: Iterable[str], now: datetime
    ) -> int:
        """Another attempt was rejected: one more attempt, with Salesforce's latest answer."""
        return self.update(
            attempts=F("attempts") + 1,
            error_code=error_code,
            message=message,
            fields=list(fields),
            last_attempt_at=now,
        )


class ExportError(models.Model):
    """A record Salesforce rejected (validation rule, permission, trigger…)."""

    class Status(models.TextChoices):
        OPEN = "open", "open"
        RESOLVED = "resolved", "resolved"
        SUPERSEDED = "superseded", "superseded by newer data"
        DISMISSED = "dismissed", "dismissed"
        GIVEN_UP = "given_up", "given up"

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="export_errors", verbose_name="account"
    )
    # RESTRICT: a record is never deleted from under its error (crm_prune keeps it); deleting
    # the account deletes both.
    record = models.ForeignKey(
        ExportRecord, on_delete=models.RESTRICT, related_name="errors", verbose_name="record"
    )
    sobject = models.CharField("object", max_length=80)
    external_id = models.CharField("external id", max_length=255)
    error_code = models.CharField("error code", max_length=100)
    message = models.TextField("message", blank=True)
    fields = models.JSONField(
        "fields", default=list, blank=True, help_text="Fields named by Salesforce."
    )
    status = models.CharField("status", max_length=16, choices=Status.choices, default=Status.OPEN)
    attempts = models.PositiveIntegerField("attempts", default=1)
    first_seen_at = models.DateTimeField("first seen", auto_now_add=True)
    last_attempt_at = models.DateTimeField("last attempt", auto_now_add=True)
    resolved_at = models.DateTimeField("resolved", null=True, blank=True)
    skipped_by = models.CharField(
        "skipped by",
        max_length=150,
        blank=True,
        help_text="Who let the export go on past this paused record (admin user or OS user).",
    )
    skipped_at = models.DateTimeField("skipped", null=True, blank=True)

    objects = ExportErrorQuerySet.as_manager()

    class Meta:
        verbose_name = "export error"
        ordering = ["record_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["record"], condition=Q(status="open"), name="one_open_error_per_record"
            )
        ]
        indexes = [models.Index(fields=["account", "status", "record"], name="exporterror_open")]

    def __str__(self) -> str:
        return f"{self.error_code} on record #{self.record_id}"


class RunTotals(models.Model):
    """Per account and outcome: the runs, records and API calls of every ExportRun up to
    `RunTotalsMark.up_to_run_id`, rolled up so that /metrics reads a few rows plus the
    latest runs, and its counters never go down when crm_prune deletes old runs."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="run_totals", verbose_name="account"
    )
    outcome = models.CharField("outcome", max_length=16)
    runs = models.BigIntegerField("runs", default=0)
    exported = models.BigIntegerField("records exported", default=0)
    failed = models.BigIntegerField("records rejected", default=0)
    api_calls = models.BigIntegerField("API calls", default=0)

    class Meta:
        verbose_name = "run totals"
        verbose_name_plural = "run totals"
        constraints = [
            models.UniqueConstraint(fields=["account", "outcome"], name="one_total_per_outcome")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.outcome}: {self.runs} runs"


class RunTotalsMark(models.Model):
    """One row: RunTotals hold every finished run with an id up to this one."""

    up_to_run_id = models.BigIntegerField("rolled up to run", default=0)

    class Meta:
        verbose_name = "run totals mark"

    def __str__(self) -> str:
        return f"run totals up to run {self.up_to_run_id}"


# Models in their own rooms, imported here so that `exports.models` names every model.
from exports.alerts.models import AlertEvent, AlertState, Notification  # noqa: E402
from exports.captured import BackfillProgress, CapturedKey  # noqa: E402
from exports.intake.models import IntakeReply  # noqa: E402
from exports.keymap import SalesforceKey  # noqa: E402
from exports.story import RecordOutcome  # noqa: E402

__all__ = [
    "AlertEvent",
    "AlertState",
    "BackfillProgress",
    "CapturedKey",
    "ExportCursor",
    "ExportError",
    "ExportRecord",
    "ExportRun",
    "IntakeReply",
    "Notification",
    "RunTotals",
    "RecordOutcome",
    "RunTotalsMark",
    "SalesforceKey",
]
