"""Replay one record to Salesforce verbosely: reproduce a paused export by hand.

`crm_replay` and the demo use it. It reads, never writes, crmsync's own tables: the
cursor, the run rows and the ExportErrors stay exactly as they are. The org does get
the record if it accepts it (an upsert by external id, as the export would send it).

1. Pick the record: the one named, or the account's paused record.
2. Pick the org: the account's configured org, or a sandbox org (URL and CA) with the
   sandbox's own client credentials, so nothing of the account's secrets is used there.
3. Against the configured org, refuse a record that a newer exported record of the
   same external id has already overwritten: replaying it would put old data back.
4. Send it with `Gateway.upsert_one(..., verbose_log=...)`: the request and the answer
   are shown with the token and the login exchange redacted.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from accounts.models import Account, CRMSettings
from exports.models import ExportCursor, ExportError, ExportRecord, records_with_key
from salesforce.client import Gateway, RecordResult

SANDBOX_CLIENT = (
    "sandbox",
    "sandbox",
)  # the sandbox org's default OAuth client (docs/sandbox-rules.md)


class ReplayError(ValueError):
    """The replay cannot start (no such record, nothing paused, would overwrite newer data)."""


@dataclass(frozen=True)
class SandboxTarget:
    url: str
    ca_path: Path


def pick_record(account: Account, record_id: int | None) -> ExportRecord:
    """The record to replay: `record_id` of this account, or the account's paused record."""
    if record_id is not None:
        record = ExportRecord.objects.filter(account=account, id=record_id).first()
        if record is None:
            raise ReplayError(f"account {account.slug} has no record #{record_id}")
        return record
    cursor = ExportCursor.objects.select_related("paused_record").filter(account=account).first()
    if cursor is None or cursor.paused_record is None:
        raise ReplayError(
            f"account {account.slug} is not paused; name the record to replay with --record ID "
            f"(see python manage.py crm_status --account {account.slug})"
        )
    return cursor.paused_record


def open_error(record: ExportRecord) -> ExportError | None:
    return ExportError.objects.filter(record=record).open().first()


def settings_for(account: Account, sandbox: SandboxTarget | None) -> CRMSettings:
    """The account's CRM settings, or an unsaved copy of them pointed at a sandbox org."""
    crm = CRMSettings.objects.select_related("account").get(account=account)
    if sandbox is None or crm.login_url.rstrip("/") == sandbox.url.rstrip("/"):
        return crm
    target = copy.copy(crm)
    target.login_url = sandbox.url
    target.ca_bundle = str(sandbox.ca_path)
    target.auth_flow = CRMSettings.AuthFlow.CLIENT_CREDENTIALS
    target.client_id, target.client_secret = SANDBOX_CLIENT
    return target


def check_not_stale(record: ExportRecord) -> None:
    """Refuse a record already overwritten by a newer exported record of its external id."""
    cursor = ExportCursor.objects.filter(account_id=record.account_id).first()
    done_up_to = cursor.last_exported_id if cursor else 0
    newer = (
        records_with_key(record.account_id, [record.external_id])
        .filter(
            sobject=record.sobject,
            external_id_field=record.external_id_field,
            external_id=record.external_id,
            id__gt=record.id,
            id__lte=done_up_to,
        )
        .values_list("id", flat=True)
        .last()
    )
    if newer is not None:
        raise ReplayError(
            f"record #{record.id} is older than record #{newer} of the same external id, "
            "which is already exported: replaying it against the configured org would put "
            "old data back. Replay it against a sandbox org instead (--sandbox)."
        )


def replay(
    record: ExportRecord,
    crm: CRMSettings,
    log: Callable[[str], None],
    *,
    configured_org: bool,
) -> RecordResult:
    """Send one record as the export would; every request and answer goes to `log`.

    Transient and auth failures raise the gateway's errors (GatewayError)."""
    if record.operation == ExportRecord.Operation.DELETE:
        raise ReplayError(
            f"record #{record.id} is a deletion; crm_replay sends one upsert and shows the "
            "exchange. A refused deletion is retried by every run (pause on) or by the daily "
            "re-export (pause off); its error shows Salesforce's answer."
        )
    if configured_org:
        check_not_stale(record)
    fields = {**record.fields, record.external_id_field: record.external_id}
    with Gateway(crm) as gateway:
        return gateway.upsert_one(
            record.sobject,
            record.external_id_field,
            record.external_id,
            fields,
            verbose_log=log,
        )


def describe_result(result: RecordResult) -> str:
    """One line for a person: what Salesforce did with the record."""
    if result.ok:
        how = "created" if result.created else "updated" if result.created is False else "written"
        return f"Salesforce accepted the record ({how}, Id {result.sf_id or 'not given'})."
    fields = f" (fields: {', '.join(result.fields)})" if result.fields else ""
    return f"Salesforce rejected the record: {result.error_code}: {result.message}{fields}"
