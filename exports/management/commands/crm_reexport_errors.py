from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from exports.run.reexport import reexport_errors
from salesforce.client import TransientError


class Command(BaseCommand):
    help = (
        "Run the daily re-export of open ExportErrors (CRMExport_ExportError) now, "
        "for all accounts or one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", help="account slug (default: all accounts)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        account_id = None
        if options["account"]:
            account = Account.objects.filter(slug=options["account"]).first()
            if account is None:
                raise CommandError(f"no account with slug {options['account']!r}", returncode=2)
            account_id = account.id
        try:
            summary = reexport_errors(account_id).as_dict()
        except TransientError as exc:
            raise CommandError(
                f"re-export interrupted: {exc.message}; the open errors stay open, run it again later",
                returncode=1,
            ) from exc
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"resolved {summary['resolved']}, superseded {summary['superseded']}, "
                f"still failing {summary['failed']}, API calls {summary['api_calls']}"
            )
            for problem in summary["accounts_failed"]:
                self.stderr.write(f"failed: {problem}")
        if summary["accounts_failed"]:
            sys.exit(1)
