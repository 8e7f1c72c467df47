"""What capture remembers: per key of a declared export, a digest of each field as last
enqueued (so a save sends only what changed), and a backfill's progress (so it resumes
where it stopped)."""

from __future__ import annotations

from django.db import models

from accounts.models import Account


class CapturedKey(models.Model):
    """A key of a declared export that was enqueued: a digest per Salesforce field of the
    value last enqueued. No row: the next save sends the full record."""

    # No index of its own: the unique constraint's index starts with the account. No
    # constraint in the database either: its check at each commit was a tenth of a
    # backfill's writing, and Django deletes an account's keys with it (CASCADE) all the
    # same; a key left behind by a delete in raw SQL is harmless (nothing reads it).
    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    export = models.CharField("export", max_length=100)
    key = models.CharField("external id", max_length=255)
    digests = models.JSONField("field digests", default=dict)

    class Meta:
        verbose_name = "captured key"
        constraints = [
            models.UniqueConstraint(fields=["account", "export", "key"], name="one_captured_key")
        ]

    def __str__(self) -> str:
        return f"{self.export} {self.key}"


class BackfillProgress(models.Model):
    """How far `crm_backfill` of one export for one account got: every row with a primary
    key up to `last_pk` is enqueued (or was unchanged). Written with each chunk's records."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    export = models.CharField("export", max_length=100)
    where = models.TextField("filter", blank=True)
    last_pk = models.TextField("last primary key", blank=True, help_text="JSON; empty: none yet")
    rows = models.BigIntegerField("rows read", default=0)
    enqueued = models.BigIntegerField("records enqueued", default=0)
    started_at = models.DateTimeField("started", auto_now_add=True)
    updated_at = models.DateTimeField("updated", auto_now=True)
    finished_at = models.DateTimeField("finished", null=True, blank=True)

    class Meta:
        verbose_name = "backfill"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "export", "where"], name="one_backfill_per_filter"
            )
        ]

    def __str__(self) -> str:
        return f"backfill of {self.export} for {self.account_id} after {self.last_pk or '-'}"
