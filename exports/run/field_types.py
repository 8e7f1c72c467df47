"""Values of the wrong type, found before sending (pure functions, no I/O).

Salesforce parses a request's JSON before it looks at any record: one value it cannot turn
into its field's type (a bad date, text in a number field) refuses the WHOLE request with
400 JSON_PARSER_ERROR. Checked here against the object's describe, such a record becomes its
own ExportError without an API call, and the records around it are sent as usual.

Only what the org's parser refuses is refused here: null fits every type, numbers may come as
JSON numbers or numeric text, booleans as true/false (or their text). Text fields are not
checked (a value the org still cannot take comes back as a 400 and is narrowed down to its
record, see salesforce.isolation).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

NUMBER_TYPES = frozenset({"double", "int", "currency", "percent", "long"})
CHECKED_TYPES = NUMBER_TYPES | {"date", "datetime", "boolean"}


def checked_fields(types: Mapping[str, str]) -> dict[str, str]:
    """The fields of a describe whose values are checked: {name: type}."""
    return {name: kind for name, kind in types.items() if kind in CHECKED_TYPES}


def type_error(payload: str, checked: Mapping[str, str]) -> tuple[str, str] | None:
    """(field, message) for the first value of `payload` (a record as JSON text) that its
    field's type cannot take, or None. Records that name no checked field are not decoded."""
    names = [name for name in checked if f'"{name}"' in payload]
    if not names:
        return None
    record = json.loads(payload)
    for name in names:
        if name in record and not fits(record[name], checked[name]):
            return name, parser_message(record[name], checked[name])
    return None


def fits(value: Any, kind: str) -> bool:
    """Can a field of describe type `kind` take this JSON value?"""
    if value is None:
        return True
    if kind in NUMBER_TYPES:
        return _is_number(value)
    if kind == "boolean":
        return isinstance(value, bool) or (
            isinstance(value, str) and value.lower() in ("true", "false")
        )
    if kind == "date":
        return isinstance(value, str) and _parses(date.fromisoformat, value[:10])
    if kind == "datetime":
        return isinstance(value, str) and _parses(_datetime, value)
    return True


def parser_message(value: Any, kind: str) -> str:
    """The org's words for it: "Cannot deserialize instance of date from VALUE_STRING value
    2024-13-45 or request may be missing a required field"."""
    token = {bool: "VALUE_TRUE" if value is True else "VALUE_FALSE", str: "VALUE_STRING"}.get(
        type(value), "START_OBJECT" if isinstance(value, dict) else "VALUE_NUMBER_INT"
    )
    if isinstance(value, list):
        token = "START_ARRAY"
    elif isinstance(value, float):
        token = "VALUE_NUMBER_FLOAT"
    shown = value if isinstance(value, str) else json.dumps(value)
    return (
        f"Cannot deserialize instance of {kind} from {token} value {shown} "
        "or request may be missing a required field"
    )


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        try:
            return math.isfinite(float(value))
        except ValueError:
            return False
    return False


def _datetime(value: str) -> datetime:
    # Salesforce writes 2024-05-01T10:00:00.000+0000; Python 3.11 reads that with a Z/±hh:mm.
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text)


def _parses(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True
