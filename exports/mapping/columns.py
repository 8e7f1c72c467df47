"""Backfill's reading by columns: a chunk's rows as the columns their records need (one
`values_list` query: no model instance per row, none per parent), planned as `capture`
plans objects, with the same records.

An export reads by columns when its records depend on columns only: `key_of`, `values_of`
and `parents_of` are Export's own, `account` is an attribute path, and every attribute
path (fields, Refs, the external id; each parent export's external id) is a chain of
forward foreign keys ending in a plain model field. An `include` of its own gets the row's
model instance (built from the same columns, as Django builds it); a parent that was never
enqueued is loaded (one query per chunk) and planned as an object. Otherwise: objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models
from django.db.models import F
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import (
    ForeignKeyDeferredAttribute,
    ForwardManyToOneDescriptor,
    ForwardOneToOneDescriptor,
)
from django.db.models.functions import Cast
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

from exports.mapping.capture import (
    Pending,
    Plan,
    StateKey,
    apply,
    known,
    overlay,
    plan_deletion,
    plan_upsert,
    values_planner,
)
from exports.mapping.columnar import by_columns, columns_planner
from exports.mapping.convert import to_salesforce
from exports.mapping.declare import Export, Ref, for_model


@dataclass(frozen=True)
class ParentColumns:
    """A Ref's parent as one of its exports sees it: the columns of its primary key and key."""

    export: type[Export]
    model: type[models.Model]
    pk: int
    key: int
    name: str  # the export's name


@dataclass(frozen=True)
class Columns:
    """What `values_list(*names)` gives for each row, by position."""

    export: type[Export]
    names: tuple[str, ...]
    pk: int
    key: int
    fields: tuple[tuple[str, int, str | None], ...]  # (field, column, a Ref's external id field)
    parents: tuple[ParentColumns, ...]  # in parents_of's order
    attnames: tuple[str, ...]  # the model's own columns, first: an include of its own

    def read(self, qs: models.QuerySet[Any]) -> models.QuerySet[Any]:
        """`qs` as rows of these columns. On PostgreSQL the UUIDs a record takes as text
        (keys, Refs) come as text (the server's uuid_out: no UUID object, no str() of it,
        a fifth of reading a chunk's keys); elsewhere as UUIDs, which to_salesforce makes
        the same text."""
        text = connections[qs.db].vendor == "postgresql"
        return qs.values_list(*(_read_as(name, text) for name in self.names))


_AS_TEXT = "::text"  # a name's suffix: a UUID column read as text


def _read_as(name: str, text: bool) -> Any:
    if not name.endswith(_AS_TEXT):
        return name
    lookup = name.removesuffix(_AS_TEXT)
    return Cast(lookup, models.TextField()) if text else F(lookup)


def columns_of(export: type[Export]) -> Columns | None:
    """How the export's rows are read by columns, or None: read them as objects."""
    model = export.model
    if model is None or not isinstance(export.account, str) or not _plain_methods(export):
        return None
    names: list[str] = []
    attnames: tuple[str, ...] = ()
    if _own(export, "include"):
        attnames = tuple(f.attname for f in model._meta.concrete_fields)
        names.extend(attnames)

    def column(name: str | None, text: bool = False) -> int:
        if name is None:
            raise LookupError
        if text and isinstance(_field_at(model, name), models.UUIDField):
            name += _AS_TEXT
        if name not in names:
            names.append(name)
        return names.index(name)

    try:
        pk = column("pk")
        key = column(_column(model, export.external_id[1]), text=True)
        fields = tuple(
            (sf, column(_column(model, s.path), text=True), s.external_id_field)
            if isinstance(s, Ref)
            else (sf, column(_column(model, s)), None)
            for sf, s in export.fields.items()
        )
        parents = tuple(
            ParentColumns(
                pe,
                parent_model,
                column(f"{via}__pk"),
                column(_parent_key(pe, via), text=True),
                pe.name(),
            )
            for via, parent_model in _refs(export)
            for pe in for_model(parent_model)
        )
    except LookupError:
        return None
    return Columns(export, tuple(names), pk, key, fields, parents, attnames)


def _plain_methods(export: type[Export]) -> bool:
    return not any(_own(export, name) for name in ("key_of", "values_of", "parents_of"))


def _own(export: type[Export], name: str) -> bool:
    """Does the export define the method `name` itself (not Export's)?"""
    mine = getattr(export, name)
    return getattr(mine, "__func__", mine) is not getattr(
        getattr(Export, name), "__func__", getattr(Export, name)
    )


def _refs(export: type[Export]) -> list[tuple[str, type[models.Model]]]:
    """(the parent's relation as a lookup, the parent's model) of each Ref with a parent."""
    assert export.model is not None
    found = []
    for source in export.fields.values():
        if isinstance(source, Ref) and source.parent_path:
            via = _relation(export.model, source.parent_path)
            if via is None:
                raise LookupError
            found.append(via)
    return found


def _parent_key(parent_export: type[Export], via: str) -> str | None:
    if _own(parent_export, "key_of") or parent_export.model is None:
        return None
    key = _column(parent_export.model, parent_export.external_id[1])
    return None if key is None else f"{via}__{key}"


def _column(model: type[models.Model], path: str) -> str | None:
    """The lookup of an attribute path of plain fields ("company.uuid" → "company__uuid"),
    or None when a step is something else (a property, a reverse relation, a field with a
    descriptor of its own, a foreign key's object at the end)."""
    head, _, last = path.rpartition(".")
    prefix, owner = "", model
    if head:
        via = _relation(model, head)
        if via is None:
            return None
        prefix, owner = f"{via[0]}__", via[1]
    field = _field(owner, last)
    if field is None or field.is_relation:
        return None
    return prefix + last if type(getattr(owner, last, None)) is DeferredAttribute else None


def _field_at(model: type[models.Model], lookup: str) -> Any:
    """The field a lookup of forward relations ends at ("company__uuid" → Company.uuid)."""
    *steps, last = lookup.split("__")
    current: Any = model
    for step in steps:
        current = current._meta.get_field(step).related_model
    return current._meta.pk if last == "pk" else current._meta.get_field(last)


def _relation(model: type[models.Model], path: str) -> tuple[str, type[models.Model]] | None:
    """A chain of forward foreign keys ("company.tenant") as a lookup and the model it ends at."""
    current = model
    for step in path.split("."):
        field = _field(current, step)
        descriptor = type(getattr(current, step, None))
        if (
            field is None
            or not (field.many_to_one or field.one_to_one)
            or descriptor not in (ForwardManyToOneDescriptor, ForwardOneToOneDescriptor)
            or type(field.related_model._base_manager) is not models.Manager
        ):
            return None
        current = field.related_model
    return path.replace(".", "__"), current


def _field(model: type[models.Model], name: str) -> Any:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if field.concrete and field.name == name else None


def capture_rows(columns: Columns, rows: list[tuple[Any, ...]], account_id: int, db: str) -> int:
    """Enqueue what the rows need, as `capture` would for their objects; the number enqueued."""
    return apply(plan_rows(columns, rows, account_id, db))


Keyed = list[tuple[tuple[Any, ...], str, list["Parent"]]]  # (row, its key, its parents)
Read = tuple[Keyed, list[StateKey], dict[StateKey, dict[str, str]]]
Enqueued = dict[StateKey, dict[str, str]]  # parents' keys a backfill knows were enqueued


def read_keys(
    columns: Columns, rows: list[tuple[Any, ...]], account_id: int, parents: Enqueued | None = None
) -> Read:
    """The rows' keys and their parents' and what was captured of them (`known` without
    `pending`): a backfill reads them ahead, while it plans the chunk before. `parents`:
    parents' keys the backfill planned as enqueued in earlier chunks (`remember_parents`),
    taken from it and not read again (a chunk's thousand companies, every chunk)."""
    convert = _memo(to_salesforce)
    keyed = [_keyed(columns, row, account_id, convert) for row in rows]
    name = columns.export.name()
    wanted = [(account_id, name, key) for _, key, _ in keyed]
    remembered: dict[StateKey, dict[str, str]] = {}
    for _, _, found in keyed:
        for _, _, state_key in found:
            digests = parents.get(state_key) if parents is not None else None
            if digests is None:
                wanted.append(state_key)
            else:
                remembered[state_key] = digests
    read = known(wanted)
    if remembered:
        read.update(remembered)
        wanted.extend(remembered)
    return keyed, wanted, read


def remember_parents(
    columns: Columns, plan: Plan, keyed: Keyed, parents: Enqueued, most: int = 100_000
) -> None:
    """Keep the chunk's parents' keys that are enqueued once the plan commits (not a key of
    the backfill's own export: its rows may be planned as deletions), at most `most` (then
    forgotten: read again)."""
    own = columns.export.name()
    for _, _, found in keyed:
        for _, _, state_key in found:
            if state_key[1] != own and state_key not in parents:
                digests = plan.digests(state_key)
                if digests:  # not a tombstone (captured_sql)
                    if len(parents) >= most:
                        parents.clear()
                    parents[state_key] = digests


def plan_rows(
    columns: Columns,
    rows: list[tuple[Any, ...]],
    account_id: int,
    db: str,
    pending: Pending | None = None,
    read: Read | None = None,
) -> Plan:
    """What `capture_rows` enqueues, planned (nothing written); `pending` as `plan_capture`
    takes it; `read`: what `read_keys` found for the rows before."""
    export, plan, convert = columns.export, Plan(), _memo(to_salesforce)
    keyed, wanted, found = read if read is not None else read_keys(columns, rows, account_id)
    plan.known = overlay(wanted, found, pending)
    loaded = _load_parents(keyed, plan.known, db)
    model, width = export.model, len(columns.attnames)
    assert model is not None
    instance = _instance_of(model, columns.attnames, db)
    include = export().include
    planned = values_planner(plan, export, account_id)
    fields, record = columns.fields, (export.sobject, export.external_id[0])
    by = by_columns(fields, [r for r, _, _ in keyed], [k for _, k, _ in keyed], record)
    planned_at = columns_planner(plan, export, account_id, by) if by else None
    for i, (row, key, parents) in enumerate(keyed):
        if width and not include(instance(row[:width])):
            plan_deletion(plan, export, account_id, key)
            continue
        for parent, pk, state_key in parents:  # parents first
            if not plan.digests(state_key):
                obj = loaded.get((parent.model, pk))
                if obj is not None and parent.export().include(obj):
                    plan_upsert(plan, parent.export, obj, account_id, state_key[2], depth=1)
        if planned_at is not None:
            planned_at(key, i)
            continue
        values = {}
        for sf_field, at, ref in fields:
            value = row[at]
            if ref is None:
                values[sf_field] = to_salesforce(value)
            else:
                values[sf_field] = None if value is None else {ref: convert(value)}
        planned(key, values)
    if not plan.items.get(account_id, True):
        del plan.items[account_id]  # nothing enqueued: no account lock for the chunk
    return plan


def _instance_of(
    model: type[models.Model], attnames: tuple[str, ...], db: str
) -> Callable[[tuple[Any, ...]], models.Model]:
    """The model's instance of a row of its columns, as `from_db` builds it: for a model
    whose instances Django builds plainly (Model's own __init__ and from_db, no pre_init or
    post_init receiver, plain column attributes) the columns go into the instance's
    __dict__ directly, which is all __init__ would do with them, at a third of the cost."""
    plain = (
        model.__init__ is models.Model.__init__
        and getattr(model.from_db, "__func__", None) is _FROM_DB
        and not pre_init.has_listeners(model)
        and not post_init.has_listeners(model)
        and attnames == tuple(f.attname for f in model._meta.concrete_fields)
        and all(type(getattr(model, name, None)) in _PLAIN for name in attnames)
    )
    if not plain:
        return lambda row: model.from_db(db, attnames, row)
    new = object.__new__

    def instance(row: tuple[Any, ...]) -> models.Model:
        obj = new(model)
        state = obj._state = ModelState()
        state.adding, state.db = False, db
        obj.__dict__.update(zip(attnames, row, strict=True))
        return obj

    return instance


_PLAIN = (DeferredAttribute, ForeignKeyDeferredAttribute)
_FROM_DB = getattr(models.Model.from_db, "__func__", None)

Parent = tuple[ParentColumns, Any, tuple[int, str, str]]  # (columns, its pk, its state key)


def _keyed(
    columns: Columns, row: tuple[Any, ...], account_id: int, convert: Callable[[Any], Any]
) -> tuple[tuple[Any, ...], str, list[Parent]]:
    """The row, its key and its parents that exist (as parents_of and key_of give them)."""
    parents = [
        (parent, row[parent.pk], (account_id, parent.name, str(convert(row[parent.key]))))
        for parent in columns.parents
        if row[parent.pk] is not None
    ]
    return row, str(to_salesforce(row[columns.key])), parents


def _memo(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, remembering its answers by type and value (a chunk's rows share parents)."""
    answers: dict[Any, Any] = {}

    def remembered(value: Any) -> Any:
        key = (value.__class__, value)
        try:
            return answers[key]
        except KeyError:
            answers[key] = found = convert(value)
            return found
        except TypeError:  # unhashable
            return convert(value)

    return remembered


def _load_parents(
    keyed: list[tuple[tuple[Any, ...], str, list[Parent]]], known: dict[Any, Any], db: str
) -> dict[Any, Any]:
    """The parents whose keys were never enqueued, as objects: one query per parent model."""
    wanted: dict[type[models.Model], set[Any]] = {}
    for _, _, parents in keyed:
        for parent, pk, state_key in parents:
            if not known.get(state_key):  # never enqueued (or a tombstone)
                wanted.setdefault(parent.model, set()).add(pk)
    loaded = {}
    for model, pks in wanted.items():
        for obj in model._base_manager.db_manager(db).filter(pk__in=pks):
            loaded[(model, obj.pk)] = obj
    return loaded
