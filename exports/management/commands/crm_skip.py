"""`crm_skip --account SLUG --record ID --i-understand-inconsistency`: let a paused export go
on past the record it is paused at (docs/semantics.md › Steering one record).

Exit status: 0 skipped; 2 without the flag, for an unknown account, or when the account is
not paused at that record (a run that moved on first wins): nothing changed.
"""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from exports.run.steering import NotPausedThere, skip_paused_record

CONFIRM = "--i-understand-inconsistency"
WARNING = (
    "The record is handled as pause off would handle it: it stays an open export error that "
    "the daily re-export retries, and the export goes on after it at the next run (pause "
    "stays on for every later record). Until it goes through, Salesforce lacks this record "
    "while it has the records after it."
)


class Command(BaseCommand):
    help = "Skip the record an account's export is paused at; the export goes on after it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account slug")
        parser.add_argument("--record", required=True, type=int, help="the paused record's id")
        parser.add_argument(CONFIRM, action="store_true", help="confirm: " + WARNING)

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(slug=options["account"]).first()
        if account is None:
            raise CommandError(f"no account with slug {options['account']!r}", returncode=2)
        record = options["record"]
        if not options["i_understand_inconsistency"]:
            raise CommandError(
                f"crm_skip lets {account.slug}'s export go on past record #{record}. {WARNING} "
                f"Add {CONFIRM} to confirm — nothing was changed.",
                returncode=2,
            )
        by = f"{_os_user()} (crm_skip)"
        try:
            error = skip_paused_record(account.pk, record, by)
        except NotPausedThere as exc:
            raise CommandError(f"{account.slug}: {exc}", returncode=2) from None
        still = f"; its export error #{error.id} stays open" if error else ""
        self.stdout.write(
            f"skipped record #{record} of {account.slug}{still}; the next run goes on after it"
        )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "unknown"
