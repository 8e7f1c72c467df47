"""Backfill: enqueue the rows that existed before crmsync (`crm_backfill`), in primary-key
order, in chunks, resumable (docs/integration.md › Backfill).

Each chunk is captured like saves (`capture`: changed fields only, parents first) and its
progress (`BackfillProgress.last_pk`) is written in the same transaction as its records, so
an interrupted backfill starts after the last chunk it committed and enqueues nothing twice.
On PostgreSQL a chunk is written while the next is planned and the one after read
(`writer`).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from exports.captured import BackfillProgress, CapturedKey
from exports.mapping.capture import (
    Captured,
    Pending,
    Plan,
    Prepared,
    captured_of,
    plan_capture,
    prepare,
    write,
)
from exports.mapping.captured_sql import ChangedSinceRead, captured_since
from exports.mapping.columns import (
    Columns,
    Enqueued,
    Read,
    columns_of,
    plan_rows,
    read_keys,
    remember_parents,
)
from exports.mapping.declare import Export, Ref, registered
from exports.mapping.writer import (
    Ahead,
    Writer,
    fewer_collections,
    one_snapshot,
    overlaps,
    pipelined,
    quick_handoffs,
)
from exports.outbox import lock_accounts


class BackfillError(ValueError):
    """A backfill that cannot start: an unknown export, a bad filter."""


@dataclass(frozen=True)
class Chunk:
    rows: int
    enqueued: int
    last_pk: Any
    total_rows: int
    total_enqueued: int


def find_export(name: str) -> type[Export]:
    exports = registered()
    if name not in exports:
        known = ", ".join(sorted(exports)) or "none is declared"
        raise BackfillError(f"no export named {name!r} (declared: {known})")
    return exports[name]


def parse_where(terms: list[str]) -> dict[str, Any]:
    """`--where field__lookup=value` terms as queryset filters; a value is JSON when it parses
    (numbers, true/false, null), else text."""
    filters: dict[str, Any] = {}
    for term in terms:
        name, sep, raw = term.partition("=")
        if not sep or not name.strip():
            raise BackfillError(f"--where {term!r}: write it as field=value or field__lookup=value")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        filters[name.strip()] = value
    return filters


def rows_of(
    export: type[Export], account_id: int, filters: dict[str, Any], by_account: bool = True
) -> QuerySet[Any]:
    """The export's rows of the account, filtered: by the account path in the database when
    it is one (unless not `by_account`), with its relations and the parents' joined
    (select_related)."""
    assert export.model is not None
    qs = export.model._default_manager.all()
    try:
        qs = qs.filter(**filters)
        if isinstance(export.account, str) and by_account:
            qs = qs.filter(**{export.account.replace(".", "__"): account_id})
        related = {_related(p) for p in _paths(export, with_account=False)} - {""}
        if related:
            qs = qs.select_related(*related)
        str(qs.query)  # a bad lookup fails here, not in the middle of the backfill
    except Exception as exc:  # noqa: BLE001 - Django raises several kinds for a bad lookup
        raise BackfillError(f"--where: {exc}") from None
    return qs


def _paths(export: type[Export], with_account: bool) -> list[str]:
    """The attribute paths a row's record reads; the account's only `with_account` (a
    backfill filters by it in SQL and knows it)."""
    paths = [s.path if isinstance(s, Ref) else s for s in export.fields.values()]
    paths.append(export.external_id[1])
    if with_account and isinstance(export.account, str):
        paths.append(export.account)
    return paths


def _related(path: str) -> str:
    """The relation part of an attribute path, as select_related takes it ("" for none)."""
    return "__".join(path.split(".")[:-1])


def backfill(
    export: type[Export],
    account_id: int,
    where: list[str],
    batch: int = 2000,
    on_chunk: Callable[[Chunk], None] | None = None,
) -> BackfillProgress:
    """Enqueue the export's rows of the account in primary-key order, `batch` at a time,
    after where the last backfill with the same filter stopped."""
    filters = parse_where(where)
    rows_of(export, account_id, filters)  # a bad filter fails here
    qs = rows_of(export, account_id, filters, by_account=False)  # each chunk: _of_account_sql
    progress, _ = BackfillProgress.objects.get_or_create(
        account_id=account_id, export=export.name(), where=" ".join(where)
    )
    if progress.finished_at is not None:  # a finished backfill runs again from the start
        progress.last_pk, progress.rows, progress.enqueued, progress.finished_at = "", 0, 0, None
    with transaction.atomic():  # running from now: deletions leave tombstones (captured_sql)
        lock_accounts([account_id])  # after any deletion that found none running commits
        progress.save()
    columns = None if getattr(qs, "_prefetch_related_lookups", ()) else columns_of(export)
    for attempt in range(1, RESTARTS + 1):
        try:
            _pass(export, columns, account_id, qs, progress, batch, on_chunk)
            break
        except ChangedSinceRead:
            if attempt == RESTARTS:
                raise BackfillError(
                    f"rows kept being saved while their chunk was written ({RESTARTS} times):"
                    " run it again, it starts after the last chunk committed"
                ) from None
            _back_to_committed(progress)
    progress.finished_at = timezone.now()
    progress.save(update_fields=["finished_at", "updated_at"])
    return progress


# A chunk whose rows were saved (and captured) after it read them rolls back, and the
# backfill goes on from the last chunk committed, reading them again: so many times at most.
RESTARTS = 10


def _back_to_committed(progress: BackfillProgress) -> None:
    """`progress` as its last chunk committed it; from the start when this run committed
    none yet and the backfill had finished before (it runs again from the start)."""
    committed = BackfillProgress.objects.get(pk=progress.pk)
    if committed.finished_at is not None:
        progress.last_pk, progress.rows, progress.enqueued = "", 0, 0
    else:
        progress.last_pk, progress.rows = committed.last_pk, committed.rows
        progress.enqueued = committed.enqueued


def _pass(
    export: type[Export],
    columns: Columns | None,
    account_id: int,
    qs: QuerySet[Any],
    progress: BackfillProgress,
    batch: int,
    on_chunk: Callable[[Chunk], None] | None,
) -> None:
    """Read, plan and write the chunks after `progress.last_pk` (ChangedSinceRead: a chunk
    was saved since it was read; nothing of it committed)."""
    chunks = _chunks(qs, _of_account_sql(export, account_id), columns, progress, batch)
    threaded = overlaps(connection.vendor, connection.in_atomic_block)
    parents: Enqueued = {}  # read by the reader's thread, written by this one
    reads = Ahead(partial(_next_read, export, chunks, columns, account_id, parents), threaded)
    writer = Writer(threaded)
    try:
        with quick_handoffs(threaded), fewer_collections():
            _run(export, columns, account_id, qs.db, progress, reads, writer, on_chunk, parents)
    finally:
        writer.close()
        reads.close()


def _run(
    export: type[Export],
    columns: Columns | None,
    account_id: int,
    db: str,
    progress: BackfillProgress,
    reads: Ahead[tuple[list[Any], Read | Captured] | None],
    writer: Writer,
    on_chunk: Callable[[Chunk], None] | None,
    parents: Enqueued,
) -> None:
    """Plan each chunk read (ahead) against the states of the two chunks before it, which
    may not have committed when it was read; hand it to the writer. The parents' keys
    planned as enqueued are remembered for the chunks after (`parents`): not read again."""
    states: deque[Pending] = deque(maxlen=2)
    number = 0
    while (read := reads.take()) is not None:
        chunk, found = read
        number += 1
        _analyze_now_and_then(number)
        pending: Pending = {}
        for state in states:
            pending.update(state)
        plan, last_pk = _plan_chunk(export, columns, chunk, account_id, db, pending, found)
        if columns is not None:
            remember_parents(columns, plan, cast(Read, found)[0], parents)
        enqueued = plan.count()
        progress.last_pk = json.dumps(last_pk, default=str)
        progress.rows += len(chunk)
        progress.enqueued += enqueued
        done = Chunk(len(chunk), enqueued, last_pk, progress.rows, progress.enqueued)
        write = partial(_write_chunk, prepare(plan), progress.pk, _progress_values(progress))
        writer.submit(write, partial(on_chunk, done) if on_chunk else _nothing)
        states.append(plan.state)
    writer.wait()


def _next_read(
    export: type[Export],
    chunks: Iterator[list[Any]],
    columns: Columns | None,
    account_id: int,
    parents: Enqueued,
) -> tuple[list[Any], Read | Captured] | None:
    """The next chunk and what was captured of its keys and its parents', read as of one
    moment (read by columns, the parents' keys remembered as enqueued taken from
    `parents`)."""
    with one_snapshot():
        chunk = next(chunks, None)
        if chunk is None:
            return None
        if columns is not None:
            return chunk, read_keys(columns, chunk, account_id, parents)
        return chunk, captured_of(_objects_of(export, chunk, account_id), account_id)


def _write_chunk(prepared: Prepared, progress_pk: int, values: dict[str, Any]) -> None:
    """A chunk's records, captured keys and progress, in one transaction: an interrupted
    backfill starts after the last chunk committed and enqueues nothing twice. No
    savepoints: the chunk is written whole or not at all. Checked (`capture.write`): when a
    save captured one of its keys since the chunk was read, it rolls back and raises
    ChangedSinceRead."""
    try:
        with transaction.atomic(), pipelined():
            write(prepared, savepoint=False, checked=True)
            BackfillProgress.objects.filter(pk=progress_pk).update(**values)
    except IntegrityError as exc:
        if not captured_since(exc):
            raise
        raise ChangedSinceRead("a key was captured since its chunk was read") from exc


def _progress_values(progress: BackfillProgress) -> dict[str, Any]:
    return {
        "last_pk": progress.last_pk,
        "rows": progress.rows,
        "enqueued": progress.enqueued,
        "finished_at": None,
        "updated_at": timezone.now(),
    }


def _nothing() -> None:
    return None


def _analyze_now_and_then(chunk: int) -> None:
    """PostgreSQL: refresh the planner's statistics of the captured keys after chunks 2,
    4, 8, 16 and 32 — the table grows faster than autovacuum looks at it, and with
    statistics of an empty table the planner reads every key of the account to find a
    chunk's 2,000. Not after: the planner scales the rows it expects by the table's
    current size, and an ANALYZE of a large table (its sample of 30,000 rows read across
    it, ~0.3–0.5 s) stalled the backfill's planning for as long."""
    if connection.vendor == "postgresql" and chunk in (2, 4, 8, 16, 32):
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {CapturedKey._meta.db_table}")


def _chunks(
    qs: QuerySet[Any],
    of_account: Callable[[], dict[str, Any]],
    columns: Columns | None,
    progress: BackfillProgress,
    batch: int,
) -> Iterator[list[Any]]:
    """The rows after the last committed chunk, `batch` at a time: tuples of the columns'
    values, or objects."""
    last = json.loads(progress.last_pk) if progress.last_pk else None
    rows = qs if columns is None else columns.read(qs)
    while True:
        page = rows.filter(**of_account()).order_by("pk")
        page = page if last is None else page.filter(pk__gt=last)
        chunk = list(page[:batch])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk if columns is None else chunk[-1][columns.pk]


def _plan_chunk(
    export: type[Export],
    columns: Columns | None,
    chunk: list[Any],
    account_id: int,
    db: str,
    pending: Pending,
    read: Read | Captured | None = None,
) -> tuple[Plan, Any]:
    """Plan one chunk's rows against the captured keys as they are once `pending` (the
    previous chunks' states) commits; (the plan, the chunk's last primary key)."""
    if columns is not None:
        plan = plan_rows(columns, chunk, account_id, db, pending, cast(Read | None, read))
        return plan, chunk[-1][columns.pk]
    rows = _objects_of(export, chunk, account_id)
    plan = plan_capture(rows, account_id=account_id, pending=pending, read=cast(Captured, read))
    return plan, chunk[-1].pk


def _objects_of(export: type[Export], chunk: list[Any], account_id: int) -> list[Any]:
    return [(export, obj) for obj in chunk if _of_account(export, obj, account_id)]


def _of_account_sql(export: type[Export], account_id: int) -> Callable[[], dict[str, Any]]:
    """The filter of a chunk's rows by an account path, taken again for each chunk. A path
    through a relation ("tenant.crm_account") filters by the ids of the related rows that
    name the account (tenant__in=[…], at most 1,000), so PostgreSQL reads the rows in
    primary-key order and stops after a chunk, where a join made it read every row after
    the last chunk's."""
    if not isinstance(export.account, str):
        return dict  # a callable: checked row by row
    assert export.model is not None
    first, _, rest = export.account.partition(".")
    lookup = {export.account.replace(".", "__"): account_id}
    field: Any = export.model._meta.get_field(first) if rest else None
    if field is None or not (field.many_to_one or field.one_to_one) or not field.concrete:
        return lambda: lookup
    related = field.related_model._base_manager.filter(**{rest.replace(".", "__"): account_id})
    ids = related.values_list(field.target_field.attname, flat=True)

    def of_account() -> dict[str, Any]:
        found = list(ids[:1001])
        return {f"{first}__in": found} if len(found) <= 1000 else lookup

    return of_account


def _of_account(export: type[Export], obj: Any, account_id: int) -> bool:
    """A callable account is checked row by row (an attribute path is filtered in SQL)."""
    return isinstance(export.account, str) or export.account_id_of(obj) == account_id
