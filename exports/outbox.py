"""The outbox: how the host application appends records for export (docs/semantics.md).

`validate()` (exports.record_input) checks one record against Salesforce's naming rules and
our size limits, purely. `enqueue()` / `enqueue_delete()` / `enqueue_many()` /
`enqueue_numbered()` write records, all or nothing, in the order given; their ids are the
export order. A deletion takes its place in that order like any record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account
from exports import jsontext
from exports.json_rows import bound_cursor
from exports.models import ExportRecord
from exports.record_input import (
    KEYS,
    MAX_RECORD_BYTES,
    InvalidRecord,
    RecordInput,
    validate,
)

CHUNK_SIZE = 2_000


@dataclass(frozen=True)
class EnqueueResult:
    """What one enqueue call wrote: how many records and the range of their ids."""

    count: int
    first_id: int | None
    last_id: int | None


def enqueue(
    account: Account,
    sobject: str,
    external_id_field: str,
    external_id: str | int,
    fields: Mapping[str, Any],
) -> ExportRecord:
    """Validate one record and append it to the account's outbox; return the saved row."""
    record = validate(
        {
            "sobject": sobject,
            "external_id_field": external_id_field,
            "external_id": external_id,
            "fields": fields,
        }
    )
    with transaction.atomic():
        _lock_account(account)
        return ExportRecord.objects.create(**_row_values(account, record))


def enqueue_delete(
    account: Account, sobject: str, external_id_field: str, external_id: str | int
) -> ExportRecord:
    """Append a deletion of the record `external_id` names; return the saved row. It is
    exported in order with the account's other records (docs/semantics.md › Deletions)."""
    record = validate(
        {
            "operation": "delete",
            "sobject": sobject,
            "external_id_field": external_id_field,
            "external_id": external_id,
        }
    )
    with transaction.atomic():
        _lock_account(account)
        return ExportRecord.objects.create(**_row_values(account, record))


def enqueue_many(
    account: Account, items: Iterable[Mapping[str, Any]], *, chunk_size: int = CHUNK_SIZE
) -> int:
    """Append `items` in order, all or nothing; return how many were written.

    InvalidRecord.line is the item's 1-based position in `items`.
    """
    return enqueue_numbered(account, enumerate(items, start=1), chunk_size=chunk_size).count


def enqueue_numbered(
    account: Account,
    numbered_items: Iterable[tuple[int, Mapping[str, Any]]],
    *,
    chunk_size: int = CHUNK_SIZE,
) -> EnqueueResult:
    """Append `(line, item)` pairs in order, all or nothing, streaming.

    1. Open one transaction and lock the account's row, so concurrent writers of one
       account commit one after the other and the account's ids become visible in
       order (the export cursor never skips an id that commits late).
    2. Take items one at a time: validate each; on the first invalid one raise
       InvalidRecord with its `line` (the transaction rolls back, nothing is written).
    3. Buffer valid records up to `chunk_size` and insert each full buffer in one statement
       (`_insert`), so a stream of any length holds at most one chunk of rows in memory.
    4. Commit; return the count and the first and last id written.
    """
    return _write(account, _validated(numbered_items), chunk_size)


def enqueue_valid(
    account: Account, records: Iterable[RecordInput], *, chunk_size: int = CHUNK_SIZE
) -> int:
    """Append records that are valid already (`validate` returned them, or
    `record_input.prevalidated` proved them valid), in order, all or nothing, as
    `enqueue_numbered` does; return how many were written."""
    return _write(account, iter(records), chunk_size).count


@dataclass(frozen=True)
class Encoded:
    """Valid records made ready to insert before the transaction (`encode_valid`): on
    PostgreSQL each chunk's JSON parameter of `_INSERT_PG`, elsewhere the records."""

    count: int
    chunks: list[Any]


def encode_valid(records: list[RecordInput], *, chunk_size: int = CHUNK_SIZE) -> Encoded:
    """Python's part of `enqueue_valid`, apart: a backfill encodes a chunk while the
    previous one is written (exports.mapping.writer)."""
    chunks = [records[at : at + chunk_size] for at in range(0, len(records), chunk_size)]
    if connection.vendor == "postgresql":
        return Encoded(len(records), [_rows_json(chunk) for chunk in chunks])
    return Encoded(len(records), chunks)


def enqueue_encoded(account: Account, encoded: Encoded, *, savepoint: bool = True) -> int:
    """Append records `encode_valid` made ready, in order, all or nothing, as
    `enqueue_valid` does; return how many were written. `savepoint=False`: no savepoint
    of its own inside the caller's transaction (which then fails as a whole)."""
    with transaction.atomic(savepoint=savepoint):
        _lock_account(account)
        for chunk in encoded.chunks:
            if isinstance(chunk, str):
                with bound_cursor() as cursor:
                    cursor.execute(_INSERT_PG_QUIET, [account.pk, timezone.now(), chunk])
            else:
                _insert(account, chunk)
    return encoded.count


def _write(account: Account, records: Iterator[RecordInput], chunk_size: int) -> EnqueueResult:
    count, first_id, last_id = 0, None, None
    with transaction.atomic():
        _lock_account(account)
        for chunk in _chunks(records, chunk_size):
            first, last = _insert(account, chunk)
            count += len(chunk)
            first_id = first if first_id is None else first_id
            last_id = last
    return EnqueueResult(count, first_id, last_id)


_INSERT_PG_QUIET = (
    'INSERT INTO "exports_exportrecord"'
    " (account_id, sobject, external_id_field, external_id, fields, operation, created_at)"
    " SELECT %s, value ->> 0, value ->> 1, value ->> 2, value -> 3, value ->> 4, %s"
    " FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS r(value, n) ORDER BY n"
)
_INSERT_PG = _INSERT_PG_QUIET + " RETURNING id"


def _rows_json(chunk: list[RecordInput]) -> str:
    rows = [[r.sobject, r.external_id_field, r.external_id, r.fields, r.operation] for r in chunk]
    return jsontext.dumps(rows)


def _insert(account: Account, chunk: list[RecordInput]) -> tuple[int, int]:
    """Insert a chunk in order; (first id, last id). PostgreSQL: one statement with the rows
    as one JSON parameter (quoted once, not value by value); others: bulk_create."""
    if connection.vendor == "postgresql":
        with bound_cursor() as cursor:
            cursor.execute(_INSERT_PG, [account.pk, timezone.now(), _rows_json(chunk)])
            ids = [row[0] for row in cursor.fetchall()]
        return min(ids), max(ids)
    saved = ExportRecord.objects.bulk_create(
        [ExportRecord(**_row_values(account, record)) for record in chunk]
    )
    return saved[0].pk, saved[-1].pk


def _row_values(account: Account, record: RecordInput) -> dict[str, Any]:
    return {
        "account_id": account.pk,
        "sobject": record.sobject,
        "external_id_field": record.external_id_field,
        "external_id": record.external_id,
        "fields": record.fields,
        "operation": record.operation,
    }


def _validated(numbered_items: Iterable[tuple[int, Mapping[str, Any]]]) -> Iterator[RecordInput]:
    for line, item in numbered_items:
        try:
            yield validate(item)
        except InvalidRecord as exc:
            raise exc.at(line) from None


def _chunks(records: Iterator[RecordInput], size: int) -> Iterator[list[RecordInput]]:
    chunk: list[RecordInput] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _lock_account(account: Account) -> None:
    """Serialize enqueues of one account until commit (FOR NO KEY UPDATE on PostgreSQL,
    which does not block inserts of rows that reference the account; SQLite's writes
    are serialized anyway). An account that does not exist (deleted meanwhile) is refused
    here: the records' account has no foreign key constraint in the database."""
    if not lock_accounts([account.pk]):
        raise Account.DoesNotExist(f"account {account.pk} does not exist: nothing enqueued")


def lock_accounts(pks: Iterable[int]) -> list[int]:
    """Lock the accounts as an enqueue locks its account, in primary-key order (so two
    lockers of the same accounts never wait for each other); those that exist."""
    found = Account.objects.select_for_update(no_key=True).filter(pk__in=set(pks))
    return list(found.order_by("pk").values_list("pk", flat=True))


__all__ = [
    "CHUNK_SIZE",
    "KEYS",
    "MAX_RECORD_BYTES",
    "Encoded",
    "EnqueueResult",
    "InvalidRecord",
    "RecordInput",
    "encode_valid",
    "enqueue",
    "enqueue_delete",
    "enqueue_encoded",
    "enqueue_many",
    "lock_accounts",
    "enqueue_numbered",
    "enqueue_valid",
    "validate",
]
