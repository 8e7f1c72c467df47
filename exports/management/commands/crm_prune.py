"""`crm_prune [--dry-run] [--json]`: delete what no run or re-export needs (docs/alerts.md › Retention)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from exports.retention import prune


class Command(BaseCommand):
    help = (
        "Delete exported outbox records older than CRMSYNC_RETAIN_RECORDS_DAYS, closed export "
        "errors older than CRMSYNC_RETAIN_ERRORS_DAYS and runs and notifications older than "
        "CRMSYNC_RETAIN_RUNS_DAYS, and keys of the key map deleted longer ago than the records' "
        "days; never a record a run or the re-export still needs. "
        "The daily CRMExport_Prune job runs the same."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        summary = prune(dry_run=options["dry_run"])
        if options["json"]:
            self.stdout.write(json.dumps(summary.as_dict()))
            return
        verb = "would delete" if summary.dry_run else "deleted"
        self.stdout.write(
            f"{verb} {summary.records:,} exported records (older than "
            f"{settings.CRMSYNC_RETAIN_RECORDS_DAYS} days), {summary.errors:,} closed export "
            f"errors (older than {settings.CRMSYNC_RETAIN_ERRORS_DAYS} days), {summary.runs:,} "
            f"runs and {summary.notifications:,} notifications (older than "
            f"{settings.CRMSYNC_RETAIN_RUNS_DAYS} days), {summary.keys:,} deleted keys of the "
            f"key map (older than {settings.CRMSYNC_RETAIN_RECORDS_DAYS} days)"
        )
