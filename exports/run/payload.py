"""A call's records: rows read from the outbox with their JSON built by the database, cut
into the batches of one call (consecutive records of one target, no repeated record key)."""

from __future__ import annotations

import json
from typing import NamedTuple

from django.conf import settings
from django.db import connection

from exports import fixed_sql, keymap
from exports.models import ExportRecord
from exports.run import decisions
from exports.run.decisions import RecordKey
from salesforce.client import MAX_COLLECTIONS_PER_COMPOSITE
from salesforce.wire import Batch, encode_record


class Row(NamedTuple):
    key: RecordKey
    # An upsert: the record as Salesforce takes it, JSON text (see _PAYLOAD_TEMPLATES). A
    # deletion: the Salesforce Id of its record ("" until known: `with_ids`).
    payload: str


# An outbox record as the JSON text of a Collections upsert, built by the database: its
# fields, the external id field set to the external id, and `attributes.type` —
# `encode_record(sobject, {**fields, external_id_field: external_id})` without decoding and
# encoding every record's fields in Python. Other databases: NULL (encoded here).
_PAYLOAD_TEMPLATES = {
    # Spliced as text (the fields' own text after the attributes and the external id): a
    # third of the cost of building a jsonb and printing it, which is kept for fields that
    # hold the external id field or `attributes` themselves (those must win).
    "postgresql": "CASE WHEN {0} ? {1} OR {0} ? 'attributes' THEN"
    " ({0} || jsonb_build_object({1}, {2}, 'attributes', jsonb_build_object('type', {3})))::text"
    " ELSE '{{\"attributes\":{{\"type\":' || to_json({3})::text || '}},'"
    " || to_json({1})::text || ':' || to_json({2})::text"
    " || CASE WHEN {0} = '{{}}'::jsonb THEN '}}' ELSE ',' || substr({0}::text, 2) END END",
    # Field names are API names (letters, digits, _), safe in a JSON path.
    "sqlite": "json_set({0}, '$.' || {1}, {2}, '$.attributes', json_object('type', {3}))",
}
_PAYLOAD = {
    vendor: template.format('"fields"', '"external_id_field"', '"external_id"', '"sobject"')
    for vendor, template in _PAYLOAD_TEMPLATES.items()
}


class Planned(NamedTuple):
    """A call's records and batches; `last`: they were the last records after the call's
    start when read (the read found fewer than it asked for, and the call takes them all)."""

    rows: list[Row]
    batches: list[Batch]
    last: bool = False


def load_call(
    account_id: int,
    after_id: int,
    until_id: int | None,
    only: list[int] | None,
    sizes: tuple[int, int],
    budget: int,
) -> Planned:
    """The records of the next call and its batches: up to `sizes` (records per call,
    records per batch) after `after_id` (or the records a retry names), within the run's
    record budget."""
    per_call, size = sizes
    limit = len(only) if only else min(per_call, budget)
    rows = load_rows(account_id, after_id, until_id, only, limit)
    if only:  # a subset of one earlier call: it fits one call
        return Planned(rows, batches_of(rows, size))
    if until_id is not None:  # a retried call: records after it may wait
        return Planned(*plan_call(rows, size, limit)[:2])
    return plan_call(rows, size, limit)


def plan_call(rows: list[Row], size: int, limit: int) -> Planned:
    """The rows that make up one call (whole batches, no repeated record key), batched;
    `rows` were read with `limit`: fewer, all in the call → the last ones."""
    keys = decisions.split_batches([r.key for r in rows], size, settings.CRMSYNC_BATCHES_PER_CALL)
    taken = rows[: sum(len(b) for b in keys)]
    return Planned(taken, _as_batches(taken, keys), len(rows) < limit and len(taken) == len(rows))


def load_rows(
    account_id: int, after_id: int, until_id: int | None, only: list[int] | None, limit: int
) -> list[Row]:
    """The records after `after_id` (up to `until_id`, of `only`), `limit` at most, in
    order: one fixed statement, read as tuples."""
    where, params = ['"account_id" = %s', '"id" > %s'], [account_id, after_id]
    if until_id is not None:
        where.append('"id" <= %s')
        params.append(until_id)
    if only:
        where.append(f'"id" IN ({", ".join(["%s"] * len(only))})')
        params.extend(only)
    sql = (
        'SELECT "id", "sobject", "external_id_field", "external_id", "operation", '
        f"{_PAYLOAD.get(connection.vendor, 'NULL')} FROM {fixed_sql.table(ExportRecord)} "
        f'WHERE {" AND ".join(where)} ORDER BY "id" LIMIT %s'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        found = cursor.fetchall()
    # `_make` is tuple.__new__ itself: a thousand rows a call, built without a Python frame each
    row, key = Row._make, RecordKey._make
    return [
        row((key((rid, sobject, field, ext, False)), payload or _encode(rid)))
        if op == "upsert"
        else row((key((rid, sobject, field, ext, True)), ""))
        for rid, sobject, field, ext, op, payload in found
    ]


def _encode(record_id: int) -> str:
    """The payload of one record, encoded here (databases without a _PAYLOAD template)."""
    record = ExportRecord.objects.get(id=record_id)
    fields = {**record.fields, record.external_id_field: record.external_id}
    return encode_record(record.sobject, fields)


def with_version(rows: list[Row], version_field: str) -> list[Row]:
    """`rows` with `version_field` set to each record's outbox id (docs/semantics.md › The
    version field): for an org whose validation rule refuses a lower one."""
    return [
        row
        if row.key.delete
        else Row(row.key, json.dumps({**json.loads(row.payload), version_field: row.key.id}))
        for row in rows
    ]


def with_ids(account_id: int, rows: list[Row]) -> list[Row]:
    """`rows` with each deletion's Salesforce Id from the key map ("" where the key map
    does not know the key: the call looks it up in the org). Read right before the call
    goes out: a call before it that wrote the key has committed by then (a call sent
    before the previous one commits shares no key with it)."""
    targets = [
        (r.key.sobject, r.key.external_id_field, r.key.external_id) for r in rows if r.key.delete
    ]
    if not targets:
        return rows
    known = keymap.ids_for(account_id, targets)
    return [
        Row(r.key, known.get((r.key.sobject, r.key.external_id_field, r.key.external_id), ""))
        if r.key.delete
        else r
        for r in rows
    ]


def batches_of(rows: list[Row], size: int) -> list[Batch]:
    """`rows` as the batches of one call. Rows here are a call's records or a subset of an
    earlier call's (a resent prefix, retried records): never more batches than it had."""
    keys = decisions.split_batches([r.key for r in rows], size, MAX_COLLECTIONS_PER_COMPOSITE)
    if sum(len(b) for b in keys) != len(rows):
        raise ValueError(f"{len(rows)} records do not fit one call of batches of {size}")
    return _as_batches(rows, keys)


def _as_batches(rows: list[Row], keys: list[list[RecordKey]]) -> list[Batch]:
    payloads = iter([row.payload for row in rows])
    return [
        Batch(b[0].sobject, b[0].external_id_field, [next(payloads) for _ in b], b[0].delete)
        for b in keys
    ]
