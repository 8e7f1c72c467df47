"""`crm_account intake-token SLUG [--revoke]`: a new HTTP intake token for an account.

The new token is printed alone on the last line of stdout (scripts take `tail -n 1`), once:
only its SHA-256 is stored (accounts.intake_tokens). The account's previous token stops
working at once. `--revoke` removes the token and makes none. Both are logged at WARNING
with the operating-system user, never the token.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts import intake_tokens
from accounts.models import Account

log = logging.getLogger(__name__)

ACTION = "intake-token"


def add_parser(actions: Any) -> argparse.ArgumentParser:
    """Add `intake-token` to crm_account's subcommands."""
    parser: argparse.ArgumentParser = actions.add_parser(
        ACTION,
        help="Make a new HTTP intake token for an account (printed once, alone on the last "
        "line) and revoke the previous one; --revoke only revokes.",
    )
    parser.add_argument("slug", metavar="SLUG", help="The account's slug.")
    parser.add_argument(
        "--revoke", action="store_true", help="Revoke the account's token; make no new one."
    )
    return parser


def run(command: BaseCommand, options: dict[str, Any]) -> None:
    account = _account(options["slug"])
    if options["revoke"]:
        had = intake_tokens.revoke(account)
        if had:
            log.warning(
                "crm_account: intake token of account %s revoked by %s", account.slug, _os_user()
            )
        command.stdout.write(
            f"revoked the intake token of {account.slug}"
            if had
            else f"{account.slug} had no intake token; nothing changed"
        )
        return
    token = intake_tokens.make(account, created_by=f"crm_account ({_os_user()})")
    log.warning("crm_account: new intake token for account %s made by %s", account.slug, _os_user())
    command.stdout.write(
        f"new intake token for {account.slug}; the previous one no longer works. It is shown "
        "this once (only its SHA-256 is kept): store it now. Clients send it as "
        "'Authorization: Bearer <token>'."
    )
    command.stdout.write(token)


def _account(slug: str) -> Account:
    try:
        return Account.objects.get(slug=slug)
    except Account.DoesNotExist:
        raise CommandError(
            f"no account with slug {slug!r}; list them with `manage.py crm_account list`",
            returncode=2,
        ) from None


def _os_user() -> str:
    try:
        return f"OS user {getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return f"OS uid {os.getuid()}"
