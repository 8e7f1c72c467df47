"""Fixed SQL for the statements every run sends (a small run sends about twenty): Django's
query compiler spends 0.3–1 ms of Python on each, a statement written out here ~0.1 ms.

The same rows and values as the ORM's: the columns are the models' concrete fields, values
are prepared by their fields (`get_db_prep_save`, as `QuerySet.update` prepares them), and
rows come back through the fields' and the backend's converters into `Model.from_db`, as
the ORM builds them. Plain SQL both PostgreSQL and SQLite run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)
Converter = Callable[[Any, Any, Any], Any]


def table(model: type[models.Model]) -> str:
    return _table(model, connection.vendor)


def columns(model: type[models.Model], alias: str) -> str:
    """The model's columns, as `alias`.column, in `from_db`'s order."""
    return _columns(model, alias, connection.vendor)


def fetch_one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    with _db().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def built(model: type[M], row: Sequence[Any]) -> tuple[M, Sequence[Any]]:
    """The instance the row's first columns make (`columns`' order), and the columns after."""
    db = _db()
    converters = _converters(model, db.vendor)
    values = [_convert(value, db, *field) for value, field in zip(row, converters, strict=False)]
    return model.from_db(db.alias, _attnames(model), values), row[len(converters) :]


def field_values(model: type[models.Model], names: Sequence[str], row: Sequence[Any]) -> list[Any]:
    """The values of the model's fields `names` as the ORM reads them, from `row`'s columns
    in that order (`field_columns`)."""
    db = _db()
    converters = _named_converters(model, tuple(names), db.vendor)
    return [_convert(value, db, *field) for value, field in zip(row, converters, strict=True)]


def field_columns(model: type[models.Model], names: Sequence[str], alias: str) -> str:
    """The columns of the model's fields `names`, as `alias`.column, in that order."""
    fields = _fields(model)
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(fields[name].column)}" for name in names)


def insert(obj: M) -> M:
    """INSERT one model instance as `save()` would (its fields' values, defaults included,
    prepared by its fields) and set its primary key."""
    model, db = type(obj), _db()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    params = [f.get_db_prep_save(f.pre_save(obj, add=True), db) for f in fields]
    names = ", ".join(db.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table(model)} ({names}) VALUES ({marks})"
    with db.cursor() as cursor:
        if db.features.can_return_columns_from_insert:
            cursor.execute(f"{sql} RETURNING {db.ops.quote_name(model._meta.pk.column)}", params)
            obj.pk = cursor.fetchone()[0]
        else:
            cursor.execute(sql, params)
            obj.pk = cursor.lastrowid
    obj._state.adding, obj._state.db = False, db.alias
    return obj


def update(
    model: type[models.Model],
    values: Mapping[str, Any],
    where: Mapping[str, Any],
    also: str = "",
    also_params: Sequence[Any] = (),
) -> int:
    """UPDATE the model's rows whose fields equal `where`'s values (None: IS NULL), setting
    `values` (field names or attnames) and then `also` (SQL of further assignments, with
    `also_params`); the number of rows changed."""
    db = _db()
    fields = _fields(model)
    nulls = tuple(name for name, value in where.items() if value is None)
    sql = _update_sql(model, tuple(values), tuple(where), nulls, also, db.vendor)
    params = [fields[name].get_db_prep_save(value, db) for name, value in values.items()]
    params.extend(also_params)
    params.extend(
        fields[name].get_db_prep_save(value, db)
        for name, value in where.items()
        if value is not None
    )
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _db() -> BaseDatabaseWrapper:
    """The connection itself: each attribute of `django.db.connection` (a proxy) is looked up
    through the thread's asgiref Local, and field methods given it look up a dozen."""
    return connections[DEFAULT_DB_ALIAS]


@functools.cache
def _update_sql(
    model: type[models.Model],
    names: tuple[str, ...],
    where: tuple[str, ...],
    nulls: tuple[str, ...],
    also: str,
    vendor: str,
) -> str:
    fields, quote = _fields(model), connection.ops.quote_name
    sets = [f"{quote(fields[name].column)} = %s" for name in names]
    if also:
        sets.append(also)
    tests = [
        f"{quote(fields[name].column)} {'IS NULL' if name in nulls else '= %s'}" for name in where
    ]
    return f"UPDATE {table(model)} SET {', '.join(sets)} WHERE {' AND '.join(tests)}"


@functools.cache
def _table(model: type[models.Model], vendor: str) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@functools.cache
def _columns(model: type[models.Model], alias: str, vendor: str) -> str:
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


@functools.cache
def _fields(model: type[models.Model]) -> dict[str, Any]:
    by_name: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        by_name[field.name] = by_name[field.attname] = field
    return by_name


@functools.cache
def _attnames(model: type[models.Model]) -> list[str]:
    """The model's attribute names in `columns`' order."""
    return [f.attname for f in model._meta.concrete_fields]


@functools.cache
def _converters(model: type[models.Model], vendor: str) -> list[tuple[list[Converter], Any]]:
    found = []
    for field in model._meta.concrete_fields:
        col = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        found.append((converters, col))
    return found


@functools.cache
def _named_converters(
    model: type[models.Model], names: tuple[str, ...], vendor: str
) -> list[tuple[list[Converter], Any]]:
    by_column = dict(zip(model._meta.concrete_fields, _converters(model, vendor), strict=True))
    fields = _fields(model)
    return [by_column[fields[name]] for name in names]


def _convert(value: Any, db: BaseDatabaseWrapper, converters: list[Converter], col: Any) -> Any:
    for converter in converters:
        value = converter(value, col, db)
    return value
