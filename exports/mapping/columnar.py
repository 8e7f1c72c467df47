"""A backfill chunk's mapped values a column at a time (`by_columns`): converted as
`to_salesforce` converts them, digested as `digests_of` digests them, and proven valid as
`record_quick.prevalidated` proves each record, in a few passes over each column (most of
them in C) instead of a dozen steps for every value of every row. Any doubt (a value
`to_salesforce` refuses, a name never validated) gives None, and the chunk is planned row
by row as before; a text too long or with a forbidden character leaves the records to be
validated one by one, as before."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exports.mapping.capture import Plan, values_planner
from exports.mapping.convert import Unconvertible, to_salesforce
from exports.mapping.declare import Export
from exports.mapping.digests import digests_in_column
from exports.record_input import (
    _FORBIDDEN_CHARS,
    MAX_EXTERNAL_ID_LENGTH,
    MAX_RECORD_BYTES,
    MAX_STRING_LENGTH,
    InvalidRecord,
    validate,
)

_AS_IS = frozenset((str, int, bool, type(None)))  # to_salesforce gives them back as they are
_TEXT_OR_NONE = frozenset((str, type(None)))
Field = tuple[str, int, str | None]  # (Salesforce field, column, a Ref's external id field)


@dataclass(frozen=True)
class ByColumns:
    names: tuple[str, ...]  # the Salesforce fields, in the mapping's order
    values: list[tuple[Any, ...]]  # each row's values, in `names` order
    digests: list[tuple[str, ...]]  # each row's digests of them
    valid: bool  # every upsert of a row's key with some of its values is a valid record


def by_columns(
    fields: tuple[Field, ...], rows: list[tuple[Any, ...]], keys: list[str], record: tuple[str, str]
) -> ByColumns | None:
    """The rows' values and digests for `fields` (as plan_rows takes them a row at a time),
    or None: a value `to_salesforce` refuses (plan row by row: it raises there only for a
    row that is exported). `record`: (sobject, external id field)."""
    names = tuple(name for name, _, _ in fields)
    if not names or not rows:
        return None
    columns, digests, texts = [], [], list(keys)
    longest = max(map(len, keys))
    widest = longest + sum(map(len, names)) + 64 * len(names)
    for _, at, ref in fields:
        raw = [row[at] for row in rows]
        try:
            column = raw if set(map(type, raw)) <= _AS_IS else [to_salesforce(v) for v in raw]
        except Unconvertible:
            return None
        text_or_none = set(map(type, column)) <= _TEXT_OR_NONE
        if text_or_none:
            strings = list(filter(None, column))
        else:
            strings = [value for value in column if value.__class__ is str]
        texts += strings
        most = max(map(len, strings), default=0)
        longest, widest = max(longest, most), widest + most
        digests.append(digests_in_column(column, ref, text_or_none))
        if ref is not None:
            column = [None if value is None else {ref: value} for value in column]
        columns.append(column)
    valid = (
        longest <= MAX_STRING_LENGTH
        and widest * 6 + 4096 < MAX_RECORD_BYTES  # as record_quick's rough size
        and _valid_keys(keys)
        and _FORBIDDEN_CHARS.search("".join(texts)) is None
        and _valid_names(record, fields)
    )
    return ByColumns(
        names, list(zip(*columns, strict=True)), list(zip(*digests, strict=True)), valid
    )


def _valid_keys(keys: list[str]) -> bool:
    """Each key as validate's rule 3 takes an external id (its characters: rule 6, apart)."""
    distinct = set(keys)
    return (
        min(map(len, keys)) > 0
        and max(map(len, keys)) <= MAX_EXTERNAL_ID_LENGTH
        and "" not in set(map(str.strip, distinct))
        and "." not in distinct
        and ".." not in distinct
    )


def _valid_names(record: tuple[str, str], fields: tuple[Field, ...]) -> bool:
    """Does a record of these names validate (names, references, the external id field not
    among the fields)? Remembered: the same few mappings come in every chunk."""
    key = (record, fields)
    if key not in _NAMES:
        sample = {
            "sobject": record[0],
            "external_id_field": record[1],
            "external_id": "x",
            "fields": {name: None if ref is None else {ref: "x"} for name, _, ref in fields},
        }
        try:
            validate(sample)
        except InvalidRecord:
            _NAMES[key] = False
        else:
            _NAMES[key] = True
    return _NAMES[key]


_NAMES: dict[Any, bool] = {}


def columns_planner(
    plan: Plan, export: type[Export], account_id: int, by: ByColumns
) -> Callable[[str, int], None]:
    """`values_planner`'s `planned` for row `i` of `by`, with its digests, as records
    proven valid when `by` is."""
    planned = values_planner(plan, export, account_id, proven=by.valid)
    names, values, digests = by.names, by.values, by.digests

    def planned_at(key: str, i: int) -> None:
        planned(
            key, dict(zip(names, values[i], strict=True)), dict(zip(names, digests[i], strict=True))
        )

    return planned_at
