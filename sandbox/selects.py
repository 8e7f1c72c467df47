"""The SQL of a SOQL query (query.py) over the stored records: their fields are one JSON
column, read with `json_extract`; `Id` is the `sf_id` column.

A condition on a case-insensitive external id field compares text folded to lower case,
as the external-id index does (store.index_key), so `Ext__c IN ('abc')` finds `ABC`.
Deleted records are not in `records` (they are in `recycle_bin`): no query sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FOLD_FUNCTION = "sandbox_fold"  # `fold`, registered on the store's reader connection


@dataclass(frozen=True)
class Condition:
    field: str
    values: tuple[Any, ...]  # one value: "=", several: "IN"
    fold: bool = False  # compare text folded to lower case (a case-insensitive external id)


def select_sql(
    sobject: str,
    conditions: list[Condition],
    order_by: tuple[str, bool] | None,
    limit: int | None,
) -> tuple[str, list[Any]]:
    """SELECT sf_id, fields of `sobject`'s records matching every condition, and its
    parameters. Field names were checked against rules.FIELD_NAME before they got here."""
    sql = ["SELECT sf_id, fields FROM records WHERE sobject = ?"]
    params: list[Any] = [sobject]
    for cond in conditions:
        values = [_sql_value(v, cond.fold) for v in cond.values if v is not None]
        column = _column(cond.field)
        compared = f"{FOLD_FUNCTION}({column})" if cond.fold else column
        tests = [f"{compared} IN ({','.join('?' * len(values))})"] if values else []
        if None in cond.values:
            tests.append(f"{column} IS NULL")
        sql.append(f"AND ({' OR '.join(tests)})")
        params.extend(values)
    if order_by:
        field, descending = order_by
        sql.append(f"ORDER BY {_column(field)} {'DESC' if descending else 'ASC'}, n")
    else:
        sql.append("ORDER BY n")
    if limit is not None:
        sql.append("LIMIT ?")
        params.append(limit)
    return " ".join(sql), params


def fold(value: Any) -> Any:
    """Text in lower case as the external-id index folds it (SQLite's lower() folds ASCII
    only); anything else unchanged."""
    return value.lower() if isinstance(value, str) else value


def _column(field: str) -> str:
    return "sf_id" if field == "Id" else f"json_extract(fields, '$.{field}')"


def _sql_value(value: Any, folded: bool) -> Any:
    if isinstance(value, bool):
        return int(value)
    return fold(value) if folded else value
