"""The SQLite side of the store's writes (store.py): each batch of upserts or deletes is one
job for the writer thread (writer.py), a few statements all fed the same JSON array, which
SQLite splits with `json_each` (one `json.dumps` per batch, no per-record SQL).

A delete moves the record's row from `records` to `recycle_bin` (Salesforce keeps deleted
records in its recycle bin: their ids stay known, as deleted) and logs it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any

from sandbox.writer import Job


def write_batch(
    db: sqlite3.Connection, sobject: str, external_id_field: str, at: str, rows: str
) -> None:
    """Upserts: each row [n or null (update), sf_id, merged fields, external id, created,
    applied fields or null (then the log takes the merged fields)]."""
    db.execute(
        "INSERT INTO records (n, sobject, sf_id, fields)"
        " SELECT value ->> 0, ?, value ->> 1, value -> 2 FROM json_each(?) WHERE value ->> 4",
        (sobject, rows),
    )
    db.execute(
        "UPDATE records SET fields = batch.value -> 2 FROM json_each(?) AS batch"
        " WHERE NOT batch.value ->> 4 AND records.sf_id = batch.value ->> 1",
        (rows,),
    )
    db.execute(
        "INSERT INTO writes (sobject, external_id_field, external_id, sf_id, created, fields, at)"
        " SELECT ?, ?, value ->> 3, value ->> 1, value ->> 4,"
        " CASE WHEN value ->> 5 IS NULL THEN value -> 2 ELSE value -> 5 END, ? FROM json_each(?)",
        (sobject, external_id_field, at, rows),
    )


def delete_batch(db: sqlite3.Connection, at: str, rows: str) -> None:
    """Deletes: each row [sObject, sf_id, external id field, external id]; the log's entry
    has op "delete" and no fields."""
    ids = "SELECT value ->> 1 FROM json_each(?)"
    db.execute(
        "INSERT INTO recycle_bin (n, sobject, sf_id, fields, deleted_at)"
        f" SELECT n, sobject, sf_id, fields, ? FROM records WHERE sf_id IN ({ids})",
        (at, rows),
    )
    db.execute(f"DELETE FROM records WHERE sf_id IN ({ids})", (rows,))
    db.execute(
        "INSERT INTO writes"
        " (op, sobject, external_id_field, external_id, sf_id, created, fields, at)"
        " SELECT 'delete', value ->> 0, value ->> 2, value ->> 3, value ->> 1, 0, '{}', ?"
        " FROM json_each(?)",
        (at, rows),
    )


def run_all(db: sqlite3.Connection, jobs: list[Job]) -> None:
    for job in jobs:
        job(db)


def delete_data(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM records")
    db.execute("DELETE FROM recycle_bin")
    db.execute("DELETE FROM writes")


def now() -> str:
    """The write log's timestamp: UTC, microseconds, with a Z."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def dumps(value: Any) -> str:
    # ASCII with \u escapes: a lone surrogate in a value must not break the UTF-8 binding.
    return json.dumps(value, separators=(",", ":"))
