"""The alerts' models: the events, what each account's alerts last said (AlertState), and
every notification sent or failed (docs/alerts.md)."""

from __future__ import annotations

import uuid

from django.db import models

from accounts.models import Account


class AlertEvent(models.TextChoices):
    """The alerts an account's export sends (webhook `event`; docs/alerts.md › Alerts)."""

    PAUSED = "paused", "paused"
    STILL_PAUSED = "still_paused", "still paused"
    RESUMED = "resumed", "resumed"
    ERROR_SPIKE = "error_spike", "error spike"
    ERROR_SPIKE_OVER = "error_spike_over", "error spike over"
    RUN_FAILING = "run_failing", "runs failing"
    RUN_RECOVERED = "run_recovered", "runs recovered"
    API_LIMIT_REACHED = "api_limit_reached", "daily API limit reached"
    API_LIMIT_CLEARED = "api_limit_cleared", "daily API limit cleared"
    SKIPPED = "skipped", "paused record skipped"
    GAVE_UP = "gave_up", "gave up on errors"


class AlertState(models.Model):
    """What an account's alerts last said, so that each state change is told once.

    Every change is one compare-and-swap UPDATE on `version` (exports.alerts.evaluate): of several
    workers evaluating the account at once, one claims the change and sends its events.
    Also the circuit breaker on repeated failed logins (exports.alerts.circuit)."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="alert_state", verbose_name="account"
    )
    version = models.PositiveIntegerField("version", default=0)
    paused_record_id = models.BigIntegerField("paused at record (told)", null=True, blank=True)
    paused_since = models.DateTimeField("paused since (told)", null=True, blank=True)
    still_paused_sent = models.PositiveIntegerField("still-paused reminders sent", default=0)
    failing = models.BooleanField("runs failing (told)", default=False)
    spiking = models.BooleanField("error spike (told)", default=False)
    api_limited = models.BooleanField("daily API limit reached (told)", default=False)
    last_run_id = models.BigIntegerField("last run counted", null=True, blank=True)
    gave_up_on = models.DateField(
        "gave up on errors (told on)", null=True, blank=True, help_text="One alert a day."
    )
    auth_failures = models.PositiveIntegerField("failed logins in a row", default=0)
    circuit_open_until = models.DateTimeField(
        "circuit open until",
        null=True,
        blank=True,
        help_text="Scheduled runs wait until then after repeated failed logins.",
    )
    circuit_reason = models.TextField("why the circuit is open", blank=True)
    updated_at = models.DateTimeField("updated", null=True, blank=True)

    class Meta:
        verbose_name = "alert state"

    def __str__(self) -> str:
        return f"alert state of {self.account}"


class Notification(models.Model):
    """One alert to one channel (an email to the account's recipients, or its webhook):
    whether it went out, after how many attempts, and why not. Its id is the webhook's
    delivery id, the same on every retry."""

    class Channel(models.TextChoices):
        EMAIL = "email", "email"
        WEBHOOK = "webhook", "webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENT = "sent", "sent"
        RETRYING = "retrying", "failed, will retry"
        FAILED = "failed", "failed"

    id = models.UUIDField("delivery id", primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="notifications", verbose_name="account"
    )
    event = models.CharField("event", max_length=32, choices=AlertEvent.choices)
    channel = models.CharField("channel", max_length=16, choices=Channel.choices)
    target = models.CharField(
        "sent to", max_length=1000, help_text="The recipients, or the webhook's scheme and host."
    )
    payload = models.JSONField("body", help_text="The event as the webhook receives it.")
    status = models.CharField("status", max_length=16, choices=Status.choices, default="pending")
    attempts = models.PositiveIntegerField("attempts", default=0)
    last_error = models.TextField("last error", blank=True)
    created_at = models.DateTimeField("created", auto_now_add=True)
    sent_at = models.DateTimeField("sent", null=True, blank=True)

    class Meta:
        verbose_name = "notification"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at"], name="notification_created")]

    def __str__(self) -> str:
        return f"{self.event} of {self.account} by {self.channel}: {self.status}"
