from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from exports.reporting.status import AccountStatus, account_status


class Command(BaseCommand):
    help = (
        "Show where an account's export stands: state, paused record and error, the last "
        "run's outcome and reason (FAILING while it failed), backlog, open errors."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account slug")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(slug=options["account"]).first()
        if account is None:
            raise CommandError(f"no account with slug {options['account']!r}", returncode=2)
        status = account_status(account)
        if options["json"]:
            self.stdout.write(json.dumps(status.as_json(), default=str))
            return
        self.stdout.write("\n".join(describe(status)))


def describe(status: AccountStatus) -> list[str]:
    """`crm_status` as text: state, pause, last run, backlog, open errors by code."""
    state = f"FAILING ({status.state})" if status.is_failing else status.state
    lines = [f"account {status.account}: {state}, exported up to #{status.last_exported_id}"]
    if status.paused_record_id:
        lines.append(
            f"paused at record #{status.paused_record_id} ({status.paused_external_id}"
            f"{', a deletion' if status.paused_operation == 'delete' else ''}) "
            f"since {_when(status.paused_since)}: {status.error_code}: {status.error_message}"
        )
        then = "; the next run retries it" if status.pause_on else " for the re-export"
        lines += [
            status.parked_outlook,
            f"fix the record or the rule in Salesforce{then} "
            f"(a run now: python manage.py crm_export --account {status.account})",
        ]
    lines += _last_run(status)
    if status.circuit_open_until:
        lines.append(
            f"circuit open until {_when(status.circuit_open_until)}: scheduled runs wait; "
            f"{status.circuit_reason} (fix the connection in the CRM settings: saving them, "
            "or a successful Test connection, lets runs start at once)"
        )
    lines.append(f"backlog {status.backlog} records, open errors {status.open_errors}")
    if status.records_per_call:
        lines.append(f"calls carry up to {status.records_per_call} records (adapted to the org)")
    for code, count in sorted(status.open_errors_by_code.items()):
        lines.append(f"  {code}: {count}")
    return lines


def _last_run(status: AccountStatus) -> list[str]:
    run = status.last_run
    if run is None:
        return []
    line = f"last run #{run.id} ({run.trigger}): {run.outcome} at {_when(run.finished_at)}"
    if not status.is_failing:
        return [line + (f": {run.message}" if run.message else "")]
    return [
        f"{line}: {run.message or 'no reason recorded'}",
        "once the cause is fixed, the scheduled runs go on by themselves; to try now: "
        f"python manage.py crm_export --account {status.account}",
    ]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z") if moment else "-"
