"""The sandbox org's state: records, deleted records, the write log and OAuth tokens, in SQLite.

Records live in memory (every record's merged fields, loaded from SQLite at start)
with an index of external ids per (sObject, field), built on first use and kept
current on every write; so an upsert never reads SQLite. Each batch of writes is
persisted as one transaction by the writer thread (see writer.py): the records'
merged fields (a JSON column, queried with `json_extract`) and the write log.
A batch travels to SQLite as one JSON array that SQLite splits with `json_each`: one
`json.dumps` per request instead of one per record, and no per-record SQL.

A delete (`delete()`) moves records to the recycle bin: gone from memory, the indexes and
`records`, their ids kept (in memory and the `recycle_bin` table) so that a later delete or
lookup of one can say it is deleted; a deleted record's number is never reused, so an
upsert of its external id creates a new record with a new id.

Everything here runs under `lock`; readers of SQLite flush the writer first.

`transaction()` groups several `apply()` and `delete()` calls (an allOrNone composite):
under `lock` for its whole length, their SQLite jobs are held back and the ids they wrote
or deleted are noted. Commit queues the held jobs as one writer job (so they reach SQLite
in one transaction); rollback drops them, so neither the write log nor a restart ever shows
a rolled-back write, and reloads the noted records from SQLite (which holds exactly the
committed state; a record it lacks was created by the transaction; one it deleted is
live again) and drops the external-id indexes of the objects written (rebuilt on next use). So the common case, commit, costs next to nothing extra.
Reads of SQLite inside the transaction see its writes: they run on the reader connection
in a SQLite transaction that applies the held jobs first and is rolled back after the read.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sandbox.batches import delete_batch, delete_data, dumps, now, run_all, write_batch
from sandbox.ids import SF_ID, checksum, make_id
from sandbox.selects import FOLD_FUNCTION, Condition, select_sql
from sandbox.selects import fold as fold_text
from sandbox.writer import Job, Writer, connect


@dataclass(slots=True)
class PlannedWrite:
    """One record to write: `sf_id` None means create (the store allocates the id)."""

    sf_id: str | None
    external_id_field: str
    external_id: Any
    applied: dict[str, Any]  # the fields this request sets
    merged: dict[str, Any]  # all fields of the record after the write
    old: dict[str, Any]  # all fields before the write ({} when created)
    created: bool = False  # set by Store.apply


@dataclass(slots=True)
class PlannedDelete:
    """One record to delete, with the external id that identifies it in the write log."""

    sobject: str
    sf_id: str
    external_id_field: str
    external_id: Any


class Transaction:
    """What an open `Store.transaction()` changed, to commit or undo."""

    __slots__ = ("next_n", "jobs", "sf_ids", "sobjects", "deleted", "rolled_back")

    def __init__(self, next_n: int) -> None:
        self.next_n = next_n  # the store's next record number when the transaction began
        self.jobs: list[Job] = []  # held-back SQLite writes, in order
        self.sf_ids: list[str] = []  # every record written (repeats allowed)
        self.sobjects: set[str] = set()  # every sObject written
        self.deleted = 0  # records deleted
        self.rolled_back = False

    def rollback(self) -> None:
        """Undo everything when the transaction ends (instead of committing it)."""
        self.rolled_back = True


class Store:
    def __init__(self, path: Path, on_deleted: Callable[[int], object] | None = None) -> None:
        """`on_deleted(n)`: told of every n records deleted for good (committed)."""
        self.lock = threading.RLock()
        self._on_deleted = on_deleted
        self._reader = connect(path)
        self._reader.create_function(FOLD_FUNCTION, 1, fold_text, deterministic=True)
        self._writer = Writer(path)
        # (sObject, field, fold case) -> external id key -> record id
        self._index: dict[tuple[str, str, bool], dict[str, str]] = {}
        self._fields: dict[str, dict[str, Any]] = {}  # sf_id -> merged fields
        self._sobjects: dict[str, str] = {}  # sf_id -> sObject
        self._deleted: dict[str, str] = {}  # sf_id -> sObject, of records in the recycle bin
        # (sObject, external id field) of every upsert so far; read on first use
        self._upsert_fields: set[tuple[str, str]] | None = None
        self._next_n = 1
        self._tx: Transaction | None = None
        self._load_records()

    def close(self) -> None:
        """Commit everything queued, then close both connections."""
        with self.lock:
            self._writer.stop()
            self._reader.close()

    def _load_records(self) -> None:
        self._fields.clear()
        self._sobjects.clear()
        self._index.clear()
        rows = self._reader.execute("SELECT sobject, sf_id, fields FROM records")
        for sobject, sf_id, fields in rows:
            self._fields[sf_id] = json.loads(fields)
            self._sobjects[sf_id] = sobject
        self._deleted = dict(self._reader.execute("SELECT sf_id, sobject FROM recycle_bin"))
        self._next_n = self._reader.execute(  # a deleted record's number is never reused
            "SELECT MAX(COALESCE((SELECT MAX(n) FROM records), 0),"
            " COALESCE((SELECT MAX(n) FROM recycle_bin), 0)) + 1"
        ).fetchone()[0]
        self._upsert_fields = None

    # -- records -----------------------------------------------------------------------

    def external_index(self, sobject: str, field: str, fold: bool) -> dict[str, str]:
        """`index_key(external id, fold)` -> record id, for one (sObject, field); do not
        modify. `fold`: the field is case-insensitive (keys are lower case)."""
        key = (sobject, field, fold)
        index = self._index.get(key)
        if index is None:
            index = {}
            for sf_id, fields in self._fields.items():
                text = index_key(fields.get(field), fold)
                if text is not None and self._sobjects[sf_id] == sobject:
                    index[text] = sf_id
            self._index[key] = index
        return index

    def ids_by_external_id(
        self, sobject: str, field: str, values: Iterable[Any], fold: bool
    ) -> dict[str, str]:
        """Map each external id value that exists (as its `index_key`) to its record id."""
        index = self.external_index(sobject, field, fold)
        keys = (index_key(value, fold) for value in values)
        return {key: index[key] for key in keys if key is not None and key in index}

    def upsert_fields(self, sobject: str) -> set[str]:
        """The fields that upserts have written `sobject` by (its external id fields); the
        first call reads them from the write log, later writes add to them."""
        if self._upsert_fields is None:
            sql = "SELECT DISTINCT sobject, external_id_field FROM writes WHERE op = 'upsert'"
            self._upsert_fields = set(self._read(sql, ()))
        return {field for name, field in self._upsert_fields if name == sobject}

    def existing_ids(self, sobject: str, sf_ids: Iterable[str]) -> set[str]:
        """The subset of `sf_ids` that are records of `sobject`."""
        return {sf_id for sf_id in sf_ids if self._sobjects.get(sf_id) == sobject}

    def sobject_of(self, sf_id: str) -> str | None:
        """The sObject of a live record (None: no such record, or it is deleted)."""
        return self._sobjects.get(sf_id)

    def deleted_sobject_of(self, sf_id: str) -> str | None:
        """The sObject of a record in the recycle bin (None: not deleted)."""
        return self._deleted.get(sf_id)

    def fields_of(self, sf_id: str) -> dict[str, Any]:
        """The record's current fields (do not modify the returned dict)."""
        return self._fields[sf_id]

    def get(self, sobject: str, sf_id: str) -> dict[str, Any] | None:
        if len(sf_id) == 15 and SF_ID.match(sf_id):
            sf_id += checksum(sf_id)
        if self._sobjects.get(sf_id) != sobject:
            return None
        return dict(self._fields[sf_id])

    def apply(self, sobject: str, planned: list[PlannedWrite]) -> None:
        """Apply `planned` in memory, then queue them as one transaction with their log rows
        (inside a `transaction()`, held back until it commits).

        Creates get their ids here (`planned[i].sf_id` is filled in). Each queued row is
        [n or null (update), sf_id, merged fields, external id, created, applied fields or
        null when they are all the merged fields (always for a create): the log then takes
        `merged`, so a record's fields are encoded once].
        """
        if not planned:
            return
        self._writer.check()  # before changing memory: a refused write changes nothing
        rows = []
        written: list[tuple[PlannedWrite, str]] = []  # each write with its record's id
        for write in planned:
            created = write.created = write.sf_id is None
            n = None
            sf_id = write.sf_id
            if sf_id is None:
                n, self._next_n = self._next_n, self._next_n + 1
                sf_id = write.sf_id = make_id(sobject, n)
            written.append((write, sf_id))
            external_id = None if write.external_id is None else str(write.external_id)
            applied = None if len(write.applied) == len(write.merged) else write.applied
            rows.append((n, sf_id, write.merged, external_id, created, applied))
            self._fields[sf_id] = write.merged
            self._sobjects[sf_id] = sobject
        self._update_index(sobject, written)
        external_id_field = planned[0].external_id_field
        if self._upsert_fields is not None:
            self._upsert_fields.add((sobject, external_id_field))
        batch = dumps(rows)  # here, not in the writer: it holds the GIL (see writer.py)
        job = partial(
            write_batch, sobject=sobject, external_id_field=external_id_field, at=now(), rows=batch
        )
        self._queue(job, [sf_id for _, sf_id in written], {sobject})

    def delete(self, planned: list[PlannedDelete]) -> None:
        """Move `planned` (live records) to the recycle bin: in memory now (queries, upserts
        and lookups no longer see them), in SQLite with their log rows as one job (inside a
        `transaction()`, held back until it commits)."""
        if not planned:
            return
        self._writer.check()
        for item in planned:
            fields = self._fields.pop(item.sf_id)
            del self._sobjects[item.sf_id]
            self._deleted[item.sf_id] = item.sobject
            self._unindex(item.sobject, item.sf_id, fields)
        rows = [[d.sobject, d.sf_id, d.external_id_field, d.external_id] for d in planned]
        job = partial(delete_batch, at=now(), rows=dumps(rows))
        self._queue(job, [d.sf_id for d in planned], {d.sobject for d in planned}, len(planned))

    def _queue(self, job: Job, sf_ids: list[str], sobjects: set[str], deleted: int = 0) -> None:
        """Hand `job` to the writer, or hold it in the open transaction with what it touched."""
        tx = self._tx
        if tx is None:
            self._writer.submit(job)
            if deleted and self._on_deleted is not None:
                self._on_deleted(deleted)
            return
        tx.jobs.append(job)
        tx.sf_ids.extend(sf_ids)
        tx.sobjects |= sobjects
        tx.deleted += deleted

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """All `apply()` and `delete()` calls inside, under `lock`: committed together, or undone.

        Undone after `tx.rollback()` or an exception: nothing is written and memory is
        restored (see the module docstring); record numbers of undone creates are reused.
        """
        with self.lock:
            if self._tx is not None:
                raise RuntimeError("the sandbox store does not nest transactions")
            tx = self._tx = Transaction(self._next_n)
            try:
                yield tx
            except BaseException:
                self._undo(tx)
                raise
            finally:
                self._tx = None
            if tx.rolled_back:
                self._undo(tx)
            elif tx.jobs:
                jobs = tx.jobs
                try:
                    self._writer.submit(lambda db: run_all(db, jobs))
                except BaseException:
                    self._undo(tx)
                    raise
                if tx.deleted and self._on_deleted is not None:
                    self._on_deleted(tx.deleted)

    def query(
        self,
        sobject: str,
        conditions: list[Condition],
        order_by: tuple[str, bool] | None,
        limit: int | None,
    ) -> list[tuple[str, dict[str, Any]]]:
        """Records of `sobject` matching all `conditions`, as (sf_id, fields) pairs."""
        sql, params = select_sql(sobject, conditions, order_by, limit)
        rows = self._read(sql, params)
        return [(sf_id, json.loads(fields)) for sf_id, fields in rows]

    def field_names(self, sobject: str) -> list[str]:
        rows = self._read(
            "SELECT DISTINCT j.key FROM records, json_each(records.fields) AS j"
            " WHERE records.sobject = ? ORDER BY j.key",
            (sobject,),
        )
        return [row[0] for row in rows]

    # -- write log and reset -------------------------------------------------------------

    def writes(self, since: int, limit: int | None) -> list[dict[str, Any]]:
        """The write log after `since`: upserts and deletes (`op`) in the order applied."""
        rows = self._read(
            "SELECT seq, op, sobject, external_id_field, external_id, sf_id, created, fields, at"
            " FROM writes WHERE seq > ? ORDER BY seq LIMIT ?",
            (since, -1 if limit is None else limit),
        )
        keys = (
            "seq",
            "op",
            "sobject",
            "external_id_field",
            "external_id",
            "sf_id",
            "created",
            "fields",
            "at",
        )
        writes = [dict(zip(keys, row, strict=True)) for row in rows]
        for write in writes:
            write["created"] = bool(write["created"])
            write["fields"] = json.loads(write["fields"])
        return writes

    def clear_data(self) -> None:
        """Delete every record and the write log (tokens stay valid)."""
        self._writer.submit(delete_data)
        self._writer.flush()
        self._load_records()

    # -- tokens --------------------------------------------------------------------------

    def save_token(self, token: str, client_id: str, username: str, expires_at: float) -> None:
        self._writer.submit(
            lambda db: db.execute(
                "INSERT INTO tokens (token, client_id, username, expires_at) VALUES (?, ?, ?, ?)",
                (token, client_id, username, expires_at),
            )
        )

    def load_tokens(self) -> dict[str, float]:
        return dict(self._read("SELECT token, expires_at FROM tokens", ()))

    def delete_tokens(self) -> None:
        self._writer.submit(lambda db: db.execute("DELETE FROM tokens"))

    # -- internals -----------------------------------------------------------------------

    def _read(self, sql: str, params: Iterable[Any]) -> list[tuple[Any, ...]]:
        """Run a read after every queued write is committed (and see an open transaction's)."""
        self._writer.flush()
        held = self._tx.jobs if self._tx is not None else None
        if not held:
            return self._reader.execute(sql, tuple(params)).fetchall()
        self._reader.execute("BEGIN")
        try:
            run_all(self._reader, held)
            return self._reader.execute(sql, tuple(params)).fetchall()
        finally:
            self._reader.execute("ROLLBACK")

    def _update_index(self, sobject: str, written: list[tuple[PlannedWrite, str]]) -> None:
        for (indexed_sobject, field, fold), index in self._index.items():
            if indexed_sobject != sobject:
                continue
            for write, sf_id in written:
                old, new = write.old.get(field), write.merged.get(field)
                if old == new:
                    continue
                old, new = index_key(old, fold), index_key(new, fold)
                if old is not None and index.get(old) == sf_id:
                    del index[old]
                if new is not None:
                    index[new] = sf_id

    def _unindex(self, sobject: str, sf_id: str, fields: dict[str, Any]) -> None:
        """Drop a deleted record's external ids from the indexes of its object."""
        for (indexed_sobject, field, fold), index in self._index.items():
            key = index_key(fields.get(field), fold) if indexed_sobject == sobject else None
            if key is not None and index.get(key) == sf_id:
                del index[key]

    def _undo(self, tx: Transaction) -> None:
        """Drop `tx`'s held jobs; put its records back as SQLite has them (committed)."""
        tx.jobs.clear()
        self._next_n = tx.next_n
        if not tx.sf_ids:
            return
        self._writer.flush()
        rows = self._reader.execute(
            "SELECT sf_id, sobject, fields FROM records"
            " WHERE sf_id IN (SELECT value FROM json_each(?))",
            (dumps(tx.sf_ids),),
        )
        committed = {sf_id: (sobject, fields) for sf_id, sobject, fields in rows}
        for sf_id in set(tx.sf_ids):
            if sf_id is None:
                continue
            # No record `tx` wrote was in the recycle bin before it: a tombstone is its own.
            self._deleted.pop(sf_id, None)
            if sf_id in committed:
                sobject, fields = committed[sf_id]
                self._fields[sf_id] = json.loads(fields)
                self._sobjects[sf_id] = sobject
            else:  # created by the transaction
                self._fields.pop(sf_id, None)
                self._sobjects.pop(sf_id, None)
        self._index = {
            key: index for key, index in self._index.items() if key[0] not in tx.sobjects
        }


def index_key(value: Any, fold: bool = False) -> str | None:
    """External ids are compared as text (lower case when `fold`: a case-insensitive field);
    null, objects and lists are not external ids."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return str(value).lower() if fold else str(value)
