"""`IntakeReply`: the answer the HTTP intake gave to a request with an Idempotency-Key, kept
for REPLAY_HOURS so the same key and body get it again and enqueue nothing twice
(exports.intake.replies)."""

from __future__ import annotations

from django.db import models

from accounts.models import Account

REPLAY_HOURS = 24


class IntakeReply(models.Model):
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="+", verbose_name="account"
    )
    key = models.CharField("Idempotency-Key", max_length=255)
    body_digest = models.CharField("SHA-256 of the body", max_length=64)
    status = models.PositiveSmallIntegerField("HTTP status")
    answer = models.JSONField("answer")
    created_at = models.DateTimeField("answered at", db_index=True)

    class Meta:
        verbose_name = "intake reply"
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="intakereply_one_per_key")
        ]

    def __str__(self) -> str:
        return f"intake reply {self.key!r} of account {self.account_id}"
