"""`crm_backfill --account SLUG --export NAME [--where F=V]... [--batch N]`: enqueue the rows
of a declared export that existed before crmsync (docs/integration.md › Backfill).

Resumable: run it again after an interruption and it starts after the last chunk it
committed (it says where). Exit status: 0 done, 2 bad input (nothing enqueued).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from exports.captured import BackfillProgress
from exports.mapping.backfill import (
    BackfillError,
    Chunk,
    backfill,
    find_export,
    parse_where,
    rows_of,
)


class Command(BaseCommand):
    help = (
        "Enqueue the existing rows of a declared export (an Export subclass, by its class "
        "name) for one account, in primary-key order, parents before their children; "
        "resumable after an interruption."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account slug")
        parser.add_argument(
            "--export", required=True, help="the Export's class name, e.g. PersonExport"
        )
        parser.add_argument(
            "--where",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help="only rows matching this Django lookup (repeatable), e.g. created__gte=2024-01-01",
        )
        parser.add_argument("--batch", type=int, default=2000, help="rows per chunk (default 2000)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(slug=options["account"]).first()
        if account is None:
            raise CommandError(f"no account with slug {options['account']!r}", returncode=2)
        if not 1 <= options["batch"] <= 50_000:
            raise CommandError("--batch takes 1–50000 rows", returncode=2)
        try:
            export = find_export(options["export"])
            total = rows_of(export, account.pk, parse_where(options["where"])).count()
        except BackfillError as exc:
            raise CommandError(str(exc), returncode=2) from None
        where = " ".join(options["where"])
        earlier = BackfillProgress.objects.filter(
            account=account, export=export.name(), where=where, finished_at__isnull=True
        ).first()
        if earlier is not None and earlier.last_pk:
            self.stdout.write(
                f"resuming {export.name()} for {account.slug} after primary key {earlier.last_pk} "
                f"({earlier.rows:,} rows read, {earlier.enqueued:,} records enqueued before)"
            )
        rows_before = earlier.rows if earlier is not None else 0
        began = time.monotonic()
        show = _progress(total, began) if not options["no_progress"] else None
        try:
            done = backfill(export, account.pk, options["where"], options["batch"], show)
        except BackfillError as exc:  # rows kept being saved: what committed stays
            raise CommandError(str(exc), returncode=1) from None
        seconds = max(time.monotonic() - began, 1e-9)
        if show:
            sys.stderr.write("\n")
        self.stdout.write(
            f"backfilled {export.name()} for {account.slug}: {done.rows:,} rows read, "
            f"{done.enqueued:,} records enqueued ({(done.rows - rows_before) / seconds:,.0f} "
            "rows/s this time)"
        )


def _progress(total: int, began: float) -> Any:
    def show(chunk: Chunk) -> None:
        rate = chunk.total_rows / max(time.monotonic() - began, 1e-9)
        share = chunk.total_rows / total if total else 1.0
        bar = "#" * int(30 * min(share, 1.0))
        sys.stderr.write(
            f"\r[{bar:<30}] {chunk.total_rows:,}/{total:,} rows, {chunk.total_enqueued:,} "
            f"enqueued, {rate:,.0f} rows/s, after pk {chunk.last_pk}"
        )
        sys.stderr.flush()

    return show
