"""The outbox, the per-account cursor, runs and record-level errors (docs/semantics.md)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import F, Q

from accounts.models import Account


class ExportRecord(models.Model):
    """One record to write to Salesforce. Append-only; `id` is the export order."""

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="export_records", verbose_name="account"
    )
    sobject = models.CharField("object", max_length=80)
    external_id_field = models.CharField("external id field", max_length=80)
    external_id = models.CharField("external id", max_length=255)
    fields = models.JSONField("fields", help_text="Salesforce field name → value.")
    created_at = models.DateTimeField("created", auto_now_add=True)

    class Meta:
        verbose_name = "export record"
        indexes = [
            models.Index(fields=["account", "id"], name="exportrecord_account_id"),
            models.Index(
                fields=["account", "sobject", "external_id", "id"], name="exportrecord_extid"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.sobject} {self.external_id}"


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
        help_text="Celery task id of the export_batch link that last moved the cursor: the same "
        "link, redelivered or retried after it moved the cursor, goes on from here.",
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
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "export cursor"

    def __str__(self) -> str:
        return f"{self.account}: {self.state} after #{self.last_exported_id}"


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

    class Meta:
        verbose_name = "export run"
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "-id"], name="exportrun_account_id")]

    def __str__(self) -> str:
        return f"run {self.id} of {self.account}: {self.outcome or 'running'}"


class ExportErrorQuerySet(models.QuerySet):
    def rejected_again(self, error_code: str, message: str, fields: Any, now: Any) -> int:
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

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="export_errors", verbose_name="account"
    )
    record = models.ForeignKey(
        ExportRecord, on_delete=models.CASCADE, related_name="errors", verbose_name="record"
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
