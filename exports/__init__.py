"""crmsync's export app. `salesforce_id` is part of the public Python API (docs/integration
of the key map: docs/semantics.md › The key map)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.models import Account


def salesforce_id(
    account: Account | int, sobject: str, external_id_field: str, external_id: str | int
) -> str | None:
    """The Salesforce Id of the record a key became (from the key map), or None: never
    written by crmsync, or deleted since."""
    from exports.keymap import salesforce_id as lookup

    return lookup(account, sobject, external_id_field, external_id)
