"""Many rows in one statement, as one JSON parameter: `INSERT … SELECT` from a JSON array
of arrays (PostgreSQL: jsonb_array_elements, each column cast; SQLite: json_each). One text
parameter is quoted once, where a list per column would be quoted element by element; as
jsonb it is parsed once, where each `->>` of a json value parses its element again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection


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
