"""Capture: a save or deletion of a declared model enqueues its record in the same
transaction (docs/integration.md › Capture on commit).

1. A saved row: the mapped fields that changed since the key's last enqueued version (a
   digest per field, `CapturedKey`); the whole record the first time; nothing when no
   mapped field changed.
2. A deleted row, or one whose `include` turned false: a deletion, if the key was ever
   enqueued (then the key is forgotten: a row created again sends its whole record).
3. A parent a `Ref` points at that was never enqueued goes first (its whole record), so
   the child's reference resolves in the org.
4. Records are enqueued per account, in order, all or nothing (`exports.outbox`): the
   account's row stays locked until the caller's transaction commits, so records of
   concurrent transactions take ids in commit order.

`QuerySet.update()` and `bulk_create` send no signals: call `export_queryset(qs)` or
`export_objects(objs)` after them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from accounts.models import Account
from exports import jsontext
from exports.captured import CapturedKey
from exports.mapping.captured_sql import (
    StateKey,
    as_read,
    known_digests,
    mark_vanished,
    save_digests,
)
from exports.mapping.declare import Export, for_model
from exports.mapping.digests import digests_of
from exports.outbox import Encoded, encode_valid, enqueue_encoded, enqueue_many, lock_accounts
from exports.record_input import RecordInput
from exports.record_quick import prevalidated

Pending = dict[StateKey, dict[str, str] | None]  # a plan's state: None, the key forgotten
Captured = tuple[list[StateKey], dict[StateKey, dict[str, str]]]  # keys looked up, found


@dataclass
class Plan:
    """What a batch of captured rows enqueues, per account in order, and the state after."""

    items: dict[int, list[dict[str, Any] | RecordInput]] = field(default_factory=dict)
    state: Pending = field(default_factory=dict)  # None: forget
    known: dict[StateKey, dict[str, str]] = field(default_factory=dict)
    vanished: list[StateKey] = field(default_factory=list)  # gone, never enqueued

    def add(self, account_id: int, item: dict[str, Any]) -> None:
        self.items.setdefault(account_id, []).append(item)

    def count(self) -> int:
        """The records the plan enqueues."""
        return sum(map(len, self.items.values()))

    def digests(self, key: StateKey) -> dict[str, str] | None:
        return self.state[key] if key in self.state else self.known.get(key)


def export_objects(objs: Iterable[Any], deleted: bool = False) -> int:
    """Capture `objs` (saved, or `deleted`) of declared models, as their saves and
    deletions would (use it after `bulk_create`, or for rows deleted without signals).
    Returns the number of records enqueued."""
    rows = [(export, obj) for obj in objs for export in for_model(type(obj))]
    return capture(rows, deleted)


def export_queryset(qs: Any, chunk: int = 2000) -> int:
    """Capture every row of `qs` (use it after `QuerySet.update()`), in primary-key order,
    `chunk` rows at a time. Returns the number of records enqueued."""
    total, last = 0, None
    while True:
        page = qs.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        objs = list(page[:chunk])
        if not objs:
            return total
        total += export_objects(objs)
        last = objs[-1].pk


def capture(
    rows: list[tuple[type[Export], Any]], deleted: bool = False, account_id: int | None = None
) -> int:
    """Enqueue what `rows` (export, object) need, in one transaction; the number enqueued.
    `account_id`: the account of every row, when the caller knows it (a backfill)."""
    if not rows:
        return 0
    plan = plan_capture(rows, deleted, account_id)
    if not plan.vanished:
        return apply(plan)
    # A row gone whose key was never enqueued: a backfill may have read it before it went.
    # With its accounts locked, read what was captured again (a chunk committed meanwhile
    # shows its keys: their deletions are planned) and leave tombstones (captured_sql).
    with transaction.atomic():
        lock_accounts([a for a, _, _ in plan.vanished])
        plan = plan_capture(rows, deleted, account_id)
        total = apply(plan)
        mark_vanished(plan.vanished)
    return total


def plan_capture(
    rows: list[tuple[type[Export], Any]],
    deleted: bool = False,
    account_id: int | None = None,
    pending: Pending | None = None,
    read: Captured | None = None,
) -> Plan:
    """What `capture` enqueues for `rows`, planned (nothing written). `pending`: the state
    of a plan being written but maybe not committed yet (a backfill's previous chunk);
    `read`: what `captured_of` read for the rows before (a backfill, with the rows)."""
    plan = Plan()
    keyed = _keyed(rows, account_id)
    wanted, found = read if read is not None else captured(_wanted(keyed))
    plan.known = overlay(wanted, found, pending)
    for export, obj, account_id, key in keyed:
        gone = deleted or not export().include(obj)
        if gone:
            plan_deletion(plan, export, account_id, key)
        else:
            plan_upsert(plan, export, obj, account_id, key, depth=0)
    return plan


def captured_of(rows: list[tuple[type[Export], Any]], account_id: int | None = None) -> Captured:
    """The keys `plan_capture` looks up for `rows` (theirs and their parents') and what was
    captured of them (`known` without `pending`), in one query."""
    return captured(_wanted(_keyed(rows, account_id)))


KeyedRows = list[tuple[type[Export], Any, int, str]]  # (export, object, its account id, its key)


def _keyed(rows: list[tuple[type[Export], Any]], account_id: int | None) -> KeyedRows:
    """The rows of a crmsync account, keyed."""
    keyed = []
    for export, obj in rows:
        found = account_id or export.account_id_of(obj)
        if found is not None:  # a row of no crmsync account is not exported
            keyed.append((export, obj, found, export.key_of(obj)))
    return keyed


def plan_upsert(
    plan: Plan, export: type[Export], obj: Any, account_id: int, key: str, depth: int
) -> None:
    if depth < 5:  # parents first (a chain of at most 5 generations)
        for parent in export.parents_of(obj):
            for parent_export in for_model(type(parent)):
                parent_key = parent_export.key_of(parent)
                state_key = (account_id, parent_export.name(), parent_key)
                if not plan.digests(state_key) and parent_export().include(parent):
                    plan_upsert(plan, parent_export, parent, account_id, parent_key, depth + 1)
    plan_values(plan, export, account_id, key, export.values_of(obj))


def plan_values(
    plan: Plan, export: type[Export], account_id: int, key: str, values: dict[str, Any]
) -> None:
    """Plan the key's record: the fields of `values` that changed since it was last enqueued
    (all of them the first time; nothing when none changed)."""
    state_key = (account_id, export.name(), key)
    changed, after = changes(plan.digests(state_key), values)
    if changed is not None:
        plan.add(account_id, record_of(export.sobject, export.external_id[0], key, changed))
        plan.state[state_key] = after


def changes(
    before: dict[str, str] | None, values: dict[str, Any], after: dict[str, str] | None = None
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The fields of `values` to enqueue (all of them when nothing was enqueued before; None
    when none changed since `before`'s digests) and the digests of `values` (`after`, when
    the caller has them)."""
    after = digests_of(values) if after is None else after
    if before is None:
        return values, after
    return {n: v for n, v in values.items() if before.get(n) != after[n]} or None, after


def record_of(sobject: str, id_field: str, key: str, fields: dict[str, Any]) -> dict[str, Any]:
    """An upsert of the key's `fields`, as `enqueue` takes it."""
    return {"sobject": sobject, "external_id_field": id_field, "external_id": key, "fields": fields}


def values_planner(
    plan: Plan, export: type[Export], account_id: int, proven: bool = False
) -> Callable[..., None]:
    """`plan_values` for many keys of one export and account (a backfill's chunk): what
    each call works out again, once. `planned(key, values, after=None)`: `after`, the
    values' digests when the caller has them; `proven`: the records are valid as they
    are (mapping.columnar checked them), made as RecordInput, which `prevalidated` takes."""
    name, sobject, id_field = export.name(), export.sobject, export.external_id[0]
    state, known_digests, add = plan.state, plan.known, plan.items.setdefault(account_id, []).append

    def planned(key: str, values: dict[str, Any], after: dict[str, str] | None = None) -> None:
        state_key = (account_id, name, key)
        before = state[state_key] if state_key in state else known_digests.get(state_key)
        changed, after = changes(before, values, after)
        if changed is not None:
            add(
                RecordInput(sobject, id_field, key, changed)
                if proven
                else record_of(sobject, id_field, key, changed)
            )
            state[state_key] = after

    return planned


def plan_deletion(plan: Plan, export: type[Export], account_id: int, key: str) -> None:
    state_key = (account_id, export.name(), key)
    if not plan.digests(state_key):  # never enqueued (None, or a tombstone: {})
        if state_key not in plan.state:  # not forgotten by this plan either
            plan.vanished.append(state_key)
        return  # nothing to delete
    plan.add(
        account_id,
        {
            "operation": "delete",
            "sobject": export.sobject,
            "external_id_field": export.external_id[0],
            "external_id": key,
        },
    )
    plan.state[state_key] = None


def _wanted(keyed: KeyedRows) -> list[StateKey]:
    """The state keys of the keyed rows and of their parents."""
    return [(a, e.name(), k) for e, _, a, k in keyed] + _parent_keys(keyed)


def _parent_keys(keyed: KeyedRows) -> list[StateKey]:
    found = []
    for export, obj, account_id, _ in keyed:
        for parent in export.parents_of(obj):
            for parent_export in for_model(type(parent)):
                found.append((account_id, parent_export.name(), parent_export.key_of(parent)))
    return found


def known(keys: list[StateKey], pending: Pending | None = None) -> dict[StateKey, dict[str, str]]:
    """The captured digests of `keys`, in one query (the keys as one JSON parameter), as
    they are once `pending` (a plan's state being written) commits."""
    return overlay(*captured(keys), pending)


def captured(keys: list[StateKey]) -> Captured:
    """`keys` without repeats and the captured digests of those found, in one query."""
    wanted = list(dict.fromkeys(keys))
    return wanted, known_digests(wanted) if wanted else {}


def overlay(
    wanted: list[StateKey], found: dict[StateKey, dict[str, str]], pending: Pending | None
) -> dict[StateKey, dict[str, str]]:
    """`found` (what `known` read of `wanted`) as it is once `pending` commits."""
    if pending:
        found = dict(found)
        for key in pending.keys() & wanted:
            after = pending[key]
            if after is None:
                found.pop(key, None)
            else:
                found[key] = after
    return found


def apply(plan: Plan) -> int:
    """Enqueue the plan's records and save the state, in one transaction. The records were
    built by the mapping: those a quick look proves valid are not validated again."""
    return write(prepare(plan))


@dataclass(frozen=True)
class Prepared:
    """A plan's writes with Python's part done (`prepare`): per account its records made
    ready to insert, or the items to validate; the keys to forget (with their digests as
    the plan found them); the digests to keep as `_save_digests`' JSON parameters, of the
    keys captured before (`keep`, each with its digests as found, `kept` of them) and of
    those the plan found never captured (`fresh`)."""

    outbox: list[tuple[int, Encoded | list[dict[str, Any]]]]
    forget: list[tuple[int, str, str, dict[str, str] | None]]
    keep: str | None
    count: int
    fresh: str | None = None
    kept: int = 0


def prepare(plan: Plan) -> Prepared:
    """The plan's writes, encoded: a backfill prepares a chunk before handing it to its
    writer (exports.mapping.writer), whose thread then mostly waits for the database."""
    outbox: list[tuple[int, Encoded | list[dict[str, Any]]]] = []
    for account_id, items in plan.items.items():
        records = prevalidated(items)
        outbox.append(
            (account_id, _to_validate(items) if records is None else encode_valid(records))
        )
    known_before = plan.known
    forget = [(*k, known_before.get(k)) for k, v in plan.state.items() if v is None]
    keep: list[Any] = []
    fresh: list[Any] = []
    for (a, e, k), d in plan.state.items():
        if d is None:
            continue
        before = known_before.get((a, e, k))
        if before is None:
            fresh.append([a, e, k, d])
        else:
            keep.append([a, e, k, d, before])
    return Prepared(outbox, forget, _json(keep), plan.count(), _json(fresh), len(keep))


def _to_validate(items: list[dict[str, Any] | RecordInput]) -> list[dict[str, Any]]:
    """The items as `enqueue_many` validates them: a record proven valid as an item too."""
    return [
        record_of(i.sobject, i.external_id_field, i.external_id, i.fields)
        if isinstance(i, RecordInput)
        else i
        for i in items
    ]


def _json(rows: list[Any]) -> str | None:
    return jsontext.dumps(rows) if rows else None


def write(prepared: Prepared, savepoint: bool = True, checked: bool = False) -> int:
    """Write what `prepare` made ready, in one transaction; the number enqueued.
    `savepoint=False`: inside the caller's transaction, no savepoint of its own (one
    round trip to the database fewer for each). `checked` (a backfill's chunk, planned from
    rows read before, not from the object a save holds): each key is written only if it is
    still as the plan found it. The keys found never captured are inserted (one captured
    since raises IntegrityError, `captured_since`); those found captured are updated, and
    those to forget deleted, only where their digests are still those found (else
    ChangedSinceRead). Either way the transaction rolls back: a save after the read
    enqueued newer values than the plan's, which must not follow them. The accounts are
    locked first, so no save's capture commits in between."""
    total = 0
    with transaction.atomic(savepoint=savepoint):
        for account_id, records in prepared.outbox:
            account = Account(pk=account_id)
            if isinstance(records, Encoded):
                total += enqueue_encoded(account, records, savepoint=savepoint)
            else:
                total += enqueue_many(account, records)  # validated: the first problem raises
        if not checked:
            for account_id, export, key, _ in prepared.forget:
                CapturedKey.objects.filter(account_id=account_id, export=export, key=key).delete()
        elif prepared.forget:
            as_read("delete", jsontext.dumps(prepared.forget), len(prepared.forget))
        if prepared.keep is not None:
            if checked:
                as_read("update", prepared.keep, prepared.kept)
            else:
                save_digests(prepared.keep)
        if prepared.fresh is not None:
            save_digests(prepared.fresh, upsert=not checked)
    return total
