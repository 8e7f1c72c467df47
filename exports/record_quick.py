"""A quick proof that records a mapping built are valid (`prevalidated`), so capture and
backfill skip `validate`'s full walk of each record; any doubt sends them all through
`validate`, which then names the first problem as it always does."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from exports.record_input import (
    _FORBIDDEN_CHARS,
    _KNOWN_NAMES,
    KEYS,
    MAX_EXTERNAL_ID_LENGTH,
    MAX_FIELDS,
    MAX_RECORD_BYTES,
    MAX_STRING_LENGTH,
    RESERVED_FIELD_NAMES,
    RecordInput,
)

_UPSERT_KEYS = frozenset(KEYS)
_DELETE_KEYS = frozenset((*KEYS[:3], "operation"))
_KNOWN_FIELD_NAMES: set[tuple[str, tuple[str, ...]]] = set()


def prevalidated(items: Sequence[Mapping[str, Any] | RecordInput]) -> list[RecordInput] | None:
    """The records `validate` returns for `items`, when a quick look proves each valid; None
    when one needs `validate` itself. For records a mapping built (exports.mapping: names
    from its declarations, values from `to_salesforce`): their names were validated before
    (`record_input._KNOWN_NAMES`), their values are scalars or one-key references, their
    strings short and free of control characters (one search over them all), the record
    far below the size limit."""
    records: list[RecordInput] = []
    texts: list[str] = []
    for item in items:
        if isinstance(item, RecordInput):  # proven valid where it was made (mapping.columnar)
            records.append(item)
            continue
        record = _quick_record(item, texts)
        if record is None:
            return None
        records.append(record)
    if _FORBIDDEN_CHARS.search("".join(texts)):
        return None
    return records


def _quick_record(item: Mapping[str, Any], texts: list[str]) -> RecordInput | None:
    sobject, external_id_field = item.get("sobject"), item.get("external_id_field")
    external_id = item.get("external_id")
    if not (
        type(sobject) is str
        and sobject in _KNOWN_NAMES
        and type(external_id_field) is str
        and external_id_field in _KNOWN_NAMES
        and type(external_id) is str
        and 0 < len(external_id) <= MAX_EXTERNAL_ID_LENGTH
        and external_id.strip()
        and external_id not in (".", "..")
    ):
        return None
    texts.append(external_id)
    keys = item.keys()
    if keys == _DELETE_KEYS and item["operation"] == "delete":
        return RecordInput(sobject, external_id_field, external_id, {}, "delete")
    fields = item.get("fields")
    if keys != _UPSERT_KEYS or type(fields) is not dict:
        return None
    if not _known_field_names(external_id_field, tuple(fields)):
        return None
    rough = len(external_id)  # as validate's _check_size counts
    for name, value in fields.items():
        kind = type(value)
        if kind is str:  # _quick_scalar's first case, inline: most values are text
            if len(value) > MAX_STRING_LENGTH:
                return None
            texts.append(value)
            rough += len(name) + len(value)
            continue
        if kind is dict:
            if not _quick_reference(value, texts):
                return None
            rough += len(name) + 64
            continue
        size = _quick_scalar(value, texts)
        if size < 0:
            return None
        rough += len(name) + size
    if rough * 6 + 4096 >= MAX_RECORD_BYTES:
        return None
    return RecordInput(sobject, external_id_field, external_id, fields)


def _quick_reference(value: dict[Any, Any], texts: list[str]) -> bool:
    """A reference {"ExtId__c": scalar}: one key, a known name, a value that is not None."""
    if len(value) != 1:
        return False
    ((key, ref),) = value.items()
    return (
        type(key) is str
        and key in _KNOWN_NAMES
        and ref is not None
        and _quick_scalar(ref, texts) >= 0
    )


def _quick_scalar(value: Any, texts: list[str]) -> int:
    """What `_check_size` counts for a valid scalar (its length for text, else 64); -1 for
    one that may be invalid."""
    kind = type(value)
    if kind is str:
        if len(value) > MAX_STRING_LENGTH:
            return -1
        texts.append(value)
        return len(value)
    if value is None or kind is bool or kind is int:
        return 64
    if kind is float and math.isfinite(value):
        return 64
    return -1


def _known_field_names(external_id_field: str, names: tuple[str, ...]) -> bool:
    """`names` are valid names of one record's fields (each validated before, no two the same
    in any case, none reserved, not the external id field's): remembered once true."""
    key = (external_id_field, names)
    if key in _KNOWN_FIELD_NAMES:
        return True
    lowered = {name.lower() for name in names if type(name) is str}
    valid = (
        len(names) <= MAX_FIELDS
        and all(name in _KNOWN_NAMES for name in names)
        and len(lowered) == len(names)
        and not lowered & RESERVED_FIELD_NAMES
        and external_id_field.lower() not in lowered
    )
    if valid and len(_KNOWN_FIELD_NAMES) < 10_000:
        _KNOWN_FIELD_NAMES.add(key)
    return valid
