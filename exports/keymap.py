"""The key map: which Salesforce record each key became (docs/semantics.md › The key map).

Per (account, object, external id field, external id as the org compares it): the record's
Salesforce Id, the outbox record last written for it, when, whether that write created the
record, and when the key was deleted. Filled from every call's answers in the transaction of
its cursor move, one statement per call (`upsert_sql`, sent with the call's results by
`exports.story.note_call`); deletions travel by these Ids
(`ids_for`); host apps read it (`salesforce_id`, `crm_lookup`, the admin).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection, models
from django.dispatch import Signal

from accounts.models import Account
from exports.json_rows import bound_cursor, db_datetime, rows_param, select_rows

log = logging.getLogger(__name__)

# Sent after each committed call that wrote or deleted records (and after a re-export's),
# with `account_id` and `writes`: a tuple of KeyWrite (record id, object, external id
# field, folded key, external id, Salesforce Id, created, delete). A host app can store the
# Ids on its own rows. A receiver that raises is logged and does not stop the export.
records_exported = Signal()


class SalesforceKey(models.Model):
    """One key of the key map."""

    # No index of its own: the unique key's index starts with it.
    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="salesforce_keys",
        verbose_name="account",
        db_index=False,
    )
    sobject = models.CharField("object", max_length=80)
    external_id_field = models.CharField("external id field", max_length=80)
    key = models.CharField(
        "key",
        max_length=255,
        help_text="The external id as the org compares it (case folded where its describe "
        "says the field ignores case).",
    )
    external_id = models.CharField("external id", max_length=255, help_text="As last written.")
    salesforce_id = models.CharField("Salesforce Id", max_length=18, blank=True, default="")
    last_record_id = models.BigIntegerField("last record written")
    last_written_at = models.DateTimeField("last written")
    operation = models.CharField("last operation", max_length=8)
    created = models.BooleanField(
        "created by the last write", null=True, help_text="Empty for a deletion."
    )
    deleted_at = models.DateTimeField("deleted", null=True, blank=True)

    class Meta:
        verbose_name = "Salesforce key"
        verbose_name_plural = "key map"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "sobject", "external_id_field", "key"], name="one_key_per_record"
            )
        ]
        indexes = [
            models.Index(fields=["salesforce_id"], name="salesforcekey_sfid"),
            # Tombstones only (crm_prune's), so a key's rewrite touches one index fewer.
            models.Index(
                fields=["deleted_at"],
                name="salesforcekey_tombstones",
                condition=models.Q(deleted_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sobject} {self.external_id_field}={self.external_id}"


class KeyWrite(NamedTuple):
    """One record a call wrote or deleted, as the key map takes it."""

    record_id: int
    sobject: str
    external_id_field: str
    key: str  # folded as the org compares it (`fold`)
    external_id: str
    salesforce_id: str | None  # None: a deletion of a key the org did not have
    created: bool | None
    delete: bool


def fold(external_id: str, case_sensitive: bool) -> str:
    """An external id as the org compares it."""
    return external_id if case_sensitive else external_id.casefold()


_COLUMNS = (
    "account_id, sobject, external_id_field, key, external_id, salesforce_id, last_record_id,"
    " last_written_at, operation, created, deleted_at"
)
_ON_CONFLICT = (
    " ON CONFLICT (account_id, sobject, external_id_field, key) DO UPDATE SET"
    " external_id = EXCLUDED.external_id,"
    " salesforce_id = CASE WHEN EXCLUDED.salesforce_id = '' THEN {t}.salesforce_id"
    " ELSE EXCLUDED.salesforce_id END,"
    " last_record_id = EXCLUDED.last_record_id, last_written_at = EXCLUDED.last_written_at,"
    " operation = EXCLUDED.operation, created = EXCLUDED.created, deleted_at = EXCLUDED.deleted_at"
)


def note_writes(account_id: int, writes: Sequence[KeyWrite], now: datetime) -> None:
    """Put a call's writes into the key map: one INSERT … ON CONFLICT for the call. A
    deletion keeps the key, marked deleted, with the Id it had. (The export's cursor move
    sends it together with the call's results: `exports.story.note_call`.)"""
    if writes:
        with bound_cursor() as cursor:
            cursor.execute(*upsert_sql(account_id, writes, now))


def upsert_sql(account_id: int, writes: Sequence[KeyWrite], now: datetime) -> tuple[str, list[Any]]:
    """The key map's INSERT … ON CONFLICT of `writes` and its parameter (the rows as one
    JSON parameter: exports.json_rows)."""
    table = SalesforceKey._meta.db_table
    at = db_datetime(now)  # once for the call's rows
    rows = [_row(account_id, w, at) for w in writes]
    types = ("bigint", "text", "text", "text", "text", "text", "bigint", "timestamptz", "text")
    select = select_rows((*types, "boolean", "timestamptz"))
    sql = f"INSERT INTO {table} ({_COLUMNS}) {select}" + _ON_CONFLICT.format(t=table)
    return sql, [rows_param(rows)]


def tell(account_id: int, writes: Sequence[KeyWrite]) -> None:
    """Send `records_exported` for a committed call's writes (nobody listening: nothing)."""
    if not writes or not records_exported.has_listeners():
        return
    for receiver, answer in records_exported.send_robust(
        sender=SalesforceKey, account_id=account_id, writes=tuple(writes)
    ):
        if isinstance(answer, Exception):
            log.warning(
                "export.records_exported.receiver_failed receiver=%r error=%r", receiver, answer
            )


def _row(account_id: int, w: KeyWrite, now: str) -> tuple[Any, ...]:
    operation = "delete" if w.delete else "upsert"
    return (
        account_id,
        w.sobject,
        w.external_id_field,
        w.key,
        w.external_id,
        w.salesforce_id or "",
        w.record_id,
        now,
        operation,
        None if w.delete else w.created,
        now if w.delete else None,
    )


def ids_for(
    account_id: int, targets: Iterable[tuple[str, str, str]]
) -> dict[tuple[str, str, str], str]:
    """The Salesforce Ids the key map holds for `targets` (object, external id field,
    external id), each found exactly or case folded, the exact spelling first. A key
    deleted already keeps its Id (deleting it again is "already absent")."""
    wanted = list(dict.fromkeys(targets))
    if not wanted:
        return {}
    rows = [
        (sobject, field, spelling)
        for sobject, field, ext in wanted
        for spelling in dict.fromkeys((ext, ext.casefold()))
    ]
    by_key = dict(_lookup(account_id, rows))
    found: dict[tuple[str, str, str], str] = {}
    for sobject, field, ext in wanted:
        sf_id = by_key.get((sobject, field, ext)) or by_key.get((sobject, field, ext.casefold()))
        if sf_id:
            found[(sobject, field, ext)] = sf_id
    return found


# One index lookup per key (the unique index of account, object, field and key), whatever
# the planner's statistics say: a plain `key IN (…)` let PostgreSQL read every key of the
# account when the table had grown since it last looked (bench/README.md › Deletes).
_LOOKUP = (
    "SELECT w.value ->> 0, w.value ->> 1, w.value ->> 2, k.salesforce_id"
    " FROM jsonb_array_elements(%s::jsonb) AS w CROSS JOIN LATERAL ("
    "SELECT salesforce_id FROM {table} WHERE account_id = %s AND sobject = w.value ->> 0"
    " AND external_id_field = w.value ->> 1 AND key = w.value ->> 2 AND salesforce_id <> ''"
    " LIMIT 1) AS k"
)


def _lookup(
    account_id: int, rows: list[tuple[str, str, str]]
) -> Iterable[tuple[tuple[str, str, str], str]]:
    """((object, field, key), Salesforce Id) of the `rows` the key map holds with an Id."""
    if connection.vendor == "postgresql":
        sql = _LOOKUP.format(table=SalesforceKey._meta.db_table)
        with bound_cursor() as cursor:
            cursor.execute(sql, [rows_param(rows), account_id])
            return [((s, f, k), sf_id) for s, f, k, sf_id in cursor.fetchall()]
    found = SalesforceKey.objects.filter(
        account_id=account_id, key__in={key for _, _, key in rows}
    ).exclude(salesforce_id="")
    return [
        ((s, f, k), sf_id)
        for s, f, k, sf_id in found.values_list(
            "sobject", "external_id_field", "key", "salesforce_id"
        )
    ]


def entry(
    account_id: int, sobject: str, external_id_field: str, external_id: str
) -> SalesforceKey | None:
    """The key map's entry for a key, found exactly or case folded (the exact one first)."""
    spellings = [str(external_id), str(external_id).casefold()]
    found = {
        e.key: e
        for e in SalesforceKey.objects.filter(
            account_id=account_id,
            sobject=sobject,
            external_id_field=external_id_field,
            key__in=spellings,
        )
    }
    return found.get(spellings[0]) or found.get(spellings[1])


def salesforce_id(
    account: Account | int, sobject: str, external_id_field: str, external_id: str | int
) -> str | None:
    """The Salesforce Id of the record a key became, or None (never written, or deleted)."""
    account_id = account if isinstance(account, int) else account.pk
    found = entry(account_id, sobject, external_id_field, str(external_id))
    if found is None or found.deleted_at is not None or not found.salesforce_id:
        return None
    return found.salesforce_id
