"""Field types (`field_types`): values checked as a Salesforce org checks them.

Salesforce parses a request's JSON into typed fields before anything else, so a value its
parser cannot read fails the WHOLE request (a Collections request, a single upsert, or
that one Composite subrequest) with HTTP 400 and the parser's message, e.g.
`[{"errorCode": "JSON_PARSER_ERROR", "message": "Cannot deserialize instance of date from
VALUE_STRING value 2024-13-45 or request may be missing a required field at [line:1,
column:57]"}]` (the shape orgs answer, e.g. github.com/restforce/restforce/issues/897,
github.com/mautic/mautic/issues/3048). What the parser reads (null always):

  string, email, picklist   any string, number or boolean (stored as given); not {} or []
  double                    a number, or a string holding one ("12.5")
  int                       a whole number, or a string holding one ("12")
  boolean                   true, false, or the strings "true" / "false" (any case)
  date                      a string YYYY-MM-DD that is a real date
  datetime                  a string YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm|+hhmm], a real time

Values that parse but are not allowed fail only their record (checked with the other
field checks, after required and length):
  email      INVALID_EMAIL_ADDRESS "Email: invalid email address: <value>", fields [Email]
  picklist   INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST
             "<Field>: bad value for restricted picklist field: <value>", fields [<Field>]
An empty string is no value (as null) for both.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from sandbox.errors import ApiError, record_error
from sandbox.rules import ObjectRules

TEXT_TYPES = frozenset({"string", "email", "picklist"})
# re.ASCII: \d is 0-9 only (not other scripts' digits, which Salesforce does not read)
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
WHOLE_NUMBER = re.compile(r"[+-]?\d+", re.ASCII)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
DATETIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?:\.\d{1,9})?"
    r"(?:Z|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def check_request_types(rules: ObjectRules, records: list[dict[str, Any]], source: bytes) -> None:
    """Raise the 400 JSON_PARSER_ERROR for the first value (in document order) that the
    parser cannot read as its field's type. `source`: the request body, for the position."""
    types = rules.field_types
    for record in records:
        for name, value in record.items():
            field_type = types.get(name)
            if field_type is not None and value is not None and not parses(field_type.kind, value):
                raise _parser_error(field_type.kind, name, value, source)


def parses(kind: str, value: Any) -> bool:
    """Whether Salesforce's JSON parser reads `value` (not null) as a field of type `kind`."""
    if kind in TEXT_TYPES:
        return not isinstance(value, (dict, list))
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "double":
        return isinstance(value, (int, float)) or _matches(NUMBER, value)
    if kind == "int":
        return isinstance(value, int) or _matches(WHOLE_NUMBER, value)
    if kind == "boolean":
        return isinstance(value, str) and value.lower() in ("true", "false")
    if kind == "date":
        return _matches(DATE, value) and _real(dt.date.fromisoformat, value)
    match = DATETIME.fullmatch(value) if isinstance(value, str) else None
    return match is not None and _real(
        dt.datetime.fromisoformat, f"{match['date']}T{match['time']}"
    )


def record_type_error(rules: ObjectRules, sent: dict[str, Any]) -> dict[str, Any] | None:
    """The first email or picklist value of the record that the field does not allow."""
    for name, field_type in rules.record_checked_types:
        value = sent.get(name)
        if value is None or value == "":
            continue
        text = _text(value)
        if field_type.kind == "email":
            if not EMAIL.fullmatch(text):
                return record_error(
                    "INVALID_EMAIL_ADDRESS", f"{name}: invalid email address: {text}", [name]
                )
        elif text not in field_type.picklist_values:
            return record_error(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{name}: bad value for restricted picklist field: {text}",
                [name],
            )
    return None


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _real(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _parser_error(kind: str, name: str, value: Any, source: bytes) -> ApiError:
    line, column = _position(source, name, value)
    return ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {_token(value)} value {_text(value)} or"
        f" request may be missing a required field at [line:{line}, column:{column}]",
    )


def _token(value: Any) -> str:
    """The JSON parser's (Jackson's) name for the token that holds `value`."""
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    return "START_ARRAY" if isinstance(value, list) else "VALUE_STRING"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{"
    return "[" if isinstance(value, list) else json.dumps(value)


def _position(source: bytes, name: str, value: Any) -> tuple[int, int]:
    """Line and column just after the first `"name": value` of the body (1, 1 if not found)."""
    text = source.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    for match in re.finditer(re.escape(json.dumps(name)) + r"\s*:\s*", text):
        try:
            found, end = decoder.raw_decode(text, match.end())
        except ValueError:
            continue
        if found == value and type(found) is type(value):
            line_start = text.rfind("\n", 0, end) + 1
            return text.count("\n", 0, end) + 1, end - line_start + 1
    return 1, 1
