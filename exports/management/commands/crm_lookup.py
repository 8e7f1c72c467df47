"""`crm_lookup --account SLUG --object O --external-id-field F VALUE [--json]`: which
Salesforce record a key became, from the key map (docs/semantics.md › The key map).

Exit status: 0 when the key map holds the key (written, or deleted: `deleted` says so), 1
when it does not (crmsync never wrote it), 2 on bad input.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from exports import keymap


class Command(BaseCommand):
    help = (
        "Show the Salesforce Id a key (object, external id field, external id) became, the "
        "outbox record last written for it, when, and whether it was deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account slug")
        parser.add_argument("--object", required=True, help="Salesforce object, e.g. Contact")
        parser.add_argument(
            "--external-id-field", required=True, help="external id field, e.g. ExtId__c"
        )
        parser.add_argument("value", help="the external id")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(slug=options["account"]).first()
        if account is None:
            raise CommandError(f"no account with slug {options['account']!r}", returncode=2)
        found = keymap.entry(
            account.pk, options["object"], options["external_id_field"], options["value"]
        )
        answer = {
            "salesforce_id": (found.salesforce_id or None) if found else None,
            "last_record_id": found.last_record_id if found else None,
            "last_written_at": found.last_written_at.isoformat() if found else None,
            "operation": found.operation if found else None,
            "deleted": bool(found and found.deleted_at),
        }
        if options["json"]:
            self.stdout.write(json.dumps(answer))
        elif found is None:
            self.stdout.write(
                f"{options['object']} {options['external_id_field']}={options['value']!r} is "
                f"not in the key map of {account.slug}: crmsync has not written it."
            )
        else:
            self.stdout.write(_describe(found))
        if found is None:
            sys.exit(1)


def _describe(found: keymap.SalesforceKey) -> str:
    sf_id = found.salesforce_id or "unknown (it was not in the org when deleted)"
    state = (
        f"deleted at {found.deleted_at.isoformat()}"
        if found.deleted_at
        else ("created" if found.created else "updated")
        + f" at {found.last_written_at.isoformat()}"
    )
    return (
        f"{found.sobject} {found.external_id_field}={found.external_id!r}: Salesforce Id {sf_id}; "
        f"last written by record #{found.last_record_id}, {state}"
    )
