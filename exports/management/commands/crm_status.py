from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from exports.status import account_status


class Command(BaseCommand):
    help = "Show where an account's export stands: state, paused record and error, backlog."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account slug")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(slug=options["account"]).first()
        if account is None:
            raise CommandError(f"no account with slug {options['account']!r}", returncode=2)
        status = account_status(account)
        data = status.as_json()
        if options["json"]:
            self.stdout.write(json.dumps(data, default=str))
            return
        lines = [
            f"account {data['account']}: {data['state']}, exported up to #{data['last_exported_id']}"
        ]
        if data["paused_record_id"]:
            lines.append(
                f"paused at record #{data['paused_record_id']} ({data['paused_external_id']}) "
                f"since {data.get('paused_since')}: {data['error_code']}: {data['error_message']}"
            )
            lines.append(
                "fix the record or the rule in Salesforce; the next run retries it "
                f"(now: python manage.py crm_export --account {data['account']})"
            )
        if data["circuit_open_until"]:
            lines.append(
                f"circuit open until {data['circuit_open_until']}: scheduled runs wait; "
                f"{data['circuit_reason']} (fix the connection in the CRM settings: saving them, "
                "or a successful Test connection, lets runs start at once)"
            )
        lines.append(f"backlog {data['backlog']} records, open errors {data['open_errors']}")
        if data["records_per_call"]:
            lines.append(
                f"calls carry up to {data['records_per_call']} records (adapted to the org)"
            )
        for code, count in sorted(data.get("open_errors_by_code", {}).items()):
            lines.append(f"  {code}: {count}")
        self.stdout.write("\n".join(lines))
