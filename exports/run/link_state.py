"""Where a link stands: its run, its account's cursor and settings (one query), and the
position it goes on from (`claim.position`)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from accounts.models import Account
from exports.models import ExportCursor, ExportRun
from exports.run import claim


def read(
    account_id: Any, run_id: Any, after_id: int, link_id: str
) -> tuple[ExportCursor | None, ExportRun | None, int | None]:
    """The account's cursor, the run (with its account and settings: one query for all),
    and where the link goes on from (None: stale)."""
    run = (
        ExportRun.objects.select_related("account__export_cursor", "account__crm_settings")
        .filter(id=run_id, account_id=account_id)
        .first()
    )
    cursor = related(run.account, "export_cursor") if run is not None else None
    return cursor, run, current_position(cursor, run, after_id, link_id)


def related(account: Account, name: str) -> Any:
    """The account's one-to-one `name` (cursor, settings), None when it has none."""
    try:
        return getattr(account, name)
    except ObjectDoesNotExist:
        return None


def current_position(
    cursor: ExportCursor | None, run: ExportRun | None, after_id: int, link_id: str
) -> int | None:
    """Where a link goes on from (`claim.position`); None for a stale or duplicate link, or
    a finished run."""
    if cursor is None or run is None or run.outcome or cursor.run_id != run.id:
        return None
    return claim.position(cursor.last_exported_id, cursor.link_id, after_id, link_id)
