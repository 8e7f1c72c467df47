"""Many rows in one statement, as one JSON parameter: `INSERT … SELECT` from a JSON array
of arrays (PostgreSQL: jsonb_array_elements, each column cast; SQLite: json_each). One text
parameter is quoted once, where a list per column would be quoted element by element; as
jsonb it is parsed once, where each `->>` of a json value parses its element again. On
PostgreSQL such statements go through `bound_cursor`: the parameter travels beside the
statement, not quoted into it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper


@contextmanager
def bound_cursor() -> Iterator[CursorWrapper]:
    """A cursor for a statement with a large parameter. PostgreSQL: its parameters travel
    beside the statement (server-side binding), where Django's psycopg cursors quote them
    into the statement's text, which the server then lexes a character at a time (a
    2,000-record JSON parameter: ~3.5 µs of its CPU a record, measured apart). Elsewhere,
    and for every other statement, Django's cursor."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    import psycopg

    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw: Any = psycopg.Cursor(connection.connection)  # what Django's wrappers wrap
    logged = connection.queries_logged
    with connection.make_debug_cursor(raw) if logged else connection.make_cursor(raw) as cursor:
        yield cursor


def select_rows(types: Sequence[str]) -> str:
    """`SELECT <columns> FROM <the rows of one JSON parameter> WHERE true`; `types` are
    PostgreSQL's column types (SQLite takes the JSON values as they are)."""
    if connection.vendor == "postgresql":
        columns = ", ".join(f"(value ->> {k})::{kind}" for k, kind in enumerate(types))
        return f"SELECT {columns} FROM jsonb_array_elements(%s::jsonb) AS value WHERE true"
    columns = ", ".join(f"value ->> {k}" for k in range(len(types)))
    return f"SELECT {columns} FROM json_each(%s) WHERE true"


def rows_param(rows: Sequence[Sequence[Any]]) -> str:
    """The rows as the JSON parameter of `select_rows` (datetimes as the database takes
    them). Encoded by the json module's C encoder; only a datetime comes back to Python."""
    return json.dumps(rows, separators=(",", ":"), default=_as_text)


def db_datetime(value: datetime) -> str:
    """A datetime as `rows_param` writes it (convert one that many rows share once)."""
    if connection.vendor == "postgresql":
        return value.isoformat()
    return str(connection.ops.adapt_datetimefield_value(value))


def _as_text(value: Any) -> str:
    if isinstance(value, datetime):
        return db_datetime(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")
