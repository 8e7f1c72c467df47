from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from exports.models import ExportRun
from exports.tools.runner import RunTimeout, progress_bar, run_and_wait, run_summary


class Command(BaseCommand):
    help = (
        "Run one export of an account now, through Celery, and wait for its outcome. "
        "Exit status: 0 done (completed, paused, nothing to do), 1 failed, 2 bad input."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account slug")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait")
        parser.add_argument("--progress", action="store_true", help="progress bar on stderr")

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(slug=options["account"]).first()
        if account is None:
            raise CommandError(f"no account with slug {options['account']!r}", returncode=2)
        progress = progress_bar if options["progress"] else None
        try:
            run = run_and_wait(account, ExportRun.Trigger.MANUAL, options["timeout"], progress)
        except RunTimeout as exc:
            raise CommandError(str(exc), returncode=1) from exc
        if progress:
            sys.stderr.write("\n")
        summary = run_summary(run)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(_describe(summary))
        if run.outcome == ExportRun.Outcome.FAILED:
            sys.exit(1)


def _describe(s: dict[str, Any]) -> str:
    line = (
        f"run {s['run_id']} of {s['account']}: {s['outcome']} — attempted {s['attempted']}, "
        f"exported {s['exported']}, failed {s['failed']}, API calls {s['api_calls']}"
    )
    if s["paused_record_id"]:
        line += (
            f"\npaused at record #{s['paused_record_id']} ({s['paused_external_id']}): "
            f"{s['error_code']}: {s['error_message']}\n"
            f"inspect: python manage.py crm_status --account {s['account']}"
        )
    elif s["outcome"] == "failed":
        line += f"\nfailed: {s['error_message']}"
    elif s["message"]:
        line += f"\n{s['message']}"
    return line
