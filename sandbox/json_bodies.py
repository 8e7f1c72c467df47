"""Request bodies as Salesforce's JSON parser reads them: strict JSON, boolean fields, and
the shape of an sObject Collections upsert body (a 400 with Salesforce's error otherwise).

The bytes arrive already de-chunked and decompressed (`bodies`); what a body's records
may hold is the object's rules' business (`upsert`, `types`).
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.errors import ApiError

MAX_RECORDS = 200


def collection_body(data: Any, sobject: str) -> tuple[bool, list[dict[str, Any]]]:
    """Check a decoded sObject Collections body; return (allOrNone, records) or raise a 400."""
    if not isinstance(data, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object with 'records'")
    all_or_none = boolean_field(data, "allOrNone")
    records = data.get("records")
    if not isinstance(records, list):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected 'records' to be a list of sObjects")
    if len(records) > MAX_RECORDS:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", f"records[{position}] is not an sObject")
        attributes = record.get("attributes")
        kind = attributes.get("type") if isinstance(attributes, dict) else None
        if kind != sobject:
            raise ApiError(
                400,
                "INVALID_TYPE",
                f"records[{position}]: attributes.type must be '{sobject}', the sObject type of"
                f" the request URI (got {json.dumps(kind)})",
            )
    return all_or_none, records


def boolean_field(data: dict[str, Any], name: str) -> bool:
    """`data[name]` if it is a boolean, False if absent; else a 400 as Salesforce's parser says."""
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of boolean from value {json.dumps(value)}",
        )
    return value


def parse_json(body: bytes) -> Any:
    """Strict JSON (no NaN or Infinity, which SQLite's JSON cannot store), or a 400."""
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            f"{exc.msg} at [line:{exc.lineno}, column:{exc.colno}]",
        ) from None


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"Non-standard token '{name}'", name, 0)
