"""`crm_rotate_secrets [--check]`: re-encrypt every stored CRM secret with the newest key.

Key rotation (docs/security.md):
1. Put the new key first in CRMSYNC_ENCRYPTION_KEY (`new,old`) and restart: new secrets
   are written with it, old ones still decrypt with the old key.
2. Run `manage.py crm_rotate_secrets`: every stored secret is read with whichever key
   opens it and written again with the newest key, all in one transaction.
3. `manage.py crm_rotate_secrets --check` says 0 → drop the old key and restart.
A secret no configured key opens stops the command before anything is changed.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from accounts.forms import SECRET_FIELDS
from accounts.models import CRMSettings
from salesforce import crypto


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored CRM secret (client secret, private key, password, webhook "
        "signing secret) with the "
        "newest key of CRMSYNC_ENCRYPTION_KEY. With --check, only count the secrets that "
        "are not on the newest key yet. Nothing is changed if any secret cannot be decrypted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Count the secrets still encrypted with an older key; change nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        secrets = _stored_secrets()
        unreadable = [
            (slug, name) for slug, _, name, token in secrets if not crypto.readable(token)
        ]
        if unreadable:
            where = ", ".join(f"{slug} ({name.replace('_', ' ')})" for slug, name in unreadable)
            raise CommandError(
                f"{len(unreadable)} secrets cannot be decrypted with any key of "
                f"CRMSYNC_ENCRYPTION_KEY: {where}. Add the key they were written with "
                "(comma-separated, newest first) or set them again in the admin; nothing "
                "was changed.",
                returncode=1,
            )
        stale = [s for s in secrets if not crypto.on_newest_key(s[3])]
        if options["check"]:
            self.stdout.write(
                f"{len(stale)} of {len(secrets)} stored secrets are not on the newest key"
            )
            return
        with transaction.atomic():
            for _, settings_id, name, token in stale:
                # The field encrypts on save with the newest key.
                CRMSettings.objects.filter(id=settings_id).update(**{name: crypto.decrypt(token)})
        accounts = len({s[0] for s in stale})
        self.stdout.write(
            f"re-encrypted {len(stale)} secrets of {accounts} accounts with the newest key "
            f"({len(secrets) - len(stale)} were on it already)"
        )


def _stored_secrets() -> list[tuple[str, int, str, str]]:
    """(account slug, settings id, field name, stored token) of every non-empty secret,
    read as stored (the model field would decrypt them)."""
    table = connection.ops.quote_name(CRMSettings._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in SECRET_FIELDS)
    slugs = dict(CRMSettings.objects.values_list("id", "account__slug"))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {columns} FROM {table} ORDER BY id")  # noqa: S608
        rows = cursor.fetchall()
    return [
        (slugs[row[0]], row[0], name, token)
        for row in rows
        for name, token in zip(SECRET_FIELDS, row[1:], strict=True)
        if token
    ]
