"""A record as the host application hands it in, checked against Salesforce's naming rules
and our size limits (`validate`, pure): the shape every way in shares (`enqueue`,
`crm_enqueue` JSON lines, the HTTP intake)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --- Salesforce API names ---------------------------------------------------------------
# An API name is [namespace__]Name[__suffix]:
# - Name "can contain only underscores and alphanumeric characters, must begin with a
#   letter, not include spaces, not end with an underscore, and not contain two
#   consecutive underscores" (the rule Salesforce states for custom object and field
#   names; the same wording for components:
#   https://developer.salesforce.com/docs/atlas.en-us.lightning.meta/light/components_names.htm).
# - A managed package prefixes its namespace, "a 1 to 15-character alphanumeric
#   identifier", as namespacePrefix__Name, e.g. bizible2__Bizible_Touchpoint__c
#   (Metadata API, fullName:
#   https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/metadata.htm).
# - Custom names end in a suffix: __c (custom object/field, "Hire_Date__c":
#   https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/custom_fields.htm),
#   __r (custom relationship), __pc/__pr (person account), __x (external object),
#   __e (platform event), __mdt (custom metadata), __b (big object), __kav/__ka
#   (knowledge), __Share/__History/__Feed/__ChangeEvent, and the components of a
#   geolocation field, Location__Latitude__s / Location__Longitude__s.
# Names are case-insensitive in Salesforce, so suffixes are matched case-insensitively.
# The ExportRecord columns hold 80 characters, which also bounds the longest real name
# (40-character name + 15-character namespace + separators and suffix).
_NAMESPACE = r"[A-Za-z][A-Za-z0-9]{0,14}__"
_NAME = r"[A-Za-z](?:_?[A-Za-z0-9])*"
_SUFFIX = (
    r"__(?:c|r|pc|pr|x|e|b|mdt|kav|ka|s|Share|History|Feed|ChangeEvent|(?:Latitude|Longitude)__s)"
)
_API_NAME = re.compile(rf"(?:{_NAMESPACE})?{_NAME}(?:{_SUFFIX})?", re.IGNORECASE)
MAX_API_NAME_LENGTH = 80

# --- Limits ---------------------------------------------------------------------------------
# Long Text Area, the longest Salesforce text field, holds 131,072 characters:
# https://help.salesforce.com/s/articleView?id=sf.custom_field_types.htm
MAX_STRING_LENGTH = 131_072
MAX_EXTERNAL_ID_LENGTH = 255  # the ExportRecord column; Salesforce text external ids are ≤255
MAX_FIELDS = 500
MAX_RECORD_BYTES = 1024 * 1024  # the record serialized as compact UTF-8 JSON

KEYS = ("sobject", "external_id_field", "external_id", "fields")
OPERATIONS = ("upsert", "delete")  # the optional key `operation`; upsert when absent
# The sObject Collections body gives every record an "attributes" object; a field of
# that name would collide with it.
RESERVED_FIELD_NAMES = frozenset({"attributes"})
# C0 controls except tab, LF and CR; DEL and C1 controls; lone surrogates (which cannot
# be encoded as UTF-8, so no database or HTTP body could carry them).
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class InvalidRecord(ValueError):
    """A record that cannot be enqueued. `problem` says why; `line` is its 1-based position."""

    def __init__(self, problem: str, line: int | None = None) -> None:
        self.problem = problem
        self.line = line
        super().__init__(f"line {line}: {problem}" if line is not None else problem)

    def at(self, line: int) -> InvalidRecord:
        """The same problem, located at `line`."""
        return InvalidRecord(self.problem, line)


@dataclass(frozen=True)
class RecordInput:
    """A validated record, ready to become an ExportRecord."""

    sobject: str
    external_id_field: str
    external_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    operation: str = "upsert"  # or "delete" (no fields)


# --- Validation -----------------------------------------------------------------------------


def validate(item: Mapping[str, Any]) -> RecordInput:
    """Check one record and return it normalized (int external ids become strings).

    1. `item` is an object with exactly the keys sobject, external_id_field,
       external_id and fields, and optionally `operation`: "upsert" (the default) or
       "delete" — a deletion has no fields (or an empty object).
    2. sobject and external_id_field are Salesforce API names.
    3. external_id is a non-empty string (or an integer) of at most 255 characters, not
       "." or ".." (a URL path would drop it).
    4. fields is an object of at most 500 API names whose values are scalars, or,
       under a relationship name, a reference {"ExtId__c": "value"} to the parent.
    5. fields repeats the external id field only with the same value.
    6. no string anywhere holds control characters other than tab, LF and CR.
    7. the whole record serializes to at most 1 MiB of JSON.
    Raises InvalidRecord naming the first problem found. Strings are only data: they
    are never put into a query.
    """
    if not isinstance(item, Mapping):
        raise InvalidRecord(f"a record must be a JSON object, not {_json_type(item)}")
    operation = _operation(item)
    _check_keys(item, operation)
    sobject = _api_name(item["sobject"], "sobject")
    external_id_field = _api_name(item["external_id_field"], "external_id_field")
    external_id = _external_id(item["external_id"])
    if operation == "delete":
        return RecordInput(sobject, external_id_field, external_id, {}, operation)
    fields = _fields(item["fields"])
    _check_external_id_in_fields(external_id_field, external_id, fields)
    record = RecordInput(sobject, external_id_field, external_id, fields)
    _check_size(record)
    return record


def _check_external_id_in_fields(
    external_id_field: str, external_id: str, fields: Mapping[str, Any]
) -> None:
    for name, value in fields.items():
        if name.lower() == external_id_field.lower() and str(value) != external_id:
            raise InvalidRecord(
                f"fields.{name} is {_short(value)} but external_id is {_short(external_id)}; "
                f"they name the same Salesforce field, so make them equal or leave {name} "
                "out of fields"
            )


def _operation(item: Mapping[str, Any]) -> str:
    operation = item.get("operation", "upsert")
    if operation not in OPERATIONS:
        raise InvalidRecord(
            f'operation is {_short(operation)}; it is "upsert" (the default) or "delete"'
        )
    return str(operation)


def _check_keys(item: Mapping[str, Any], operation: str) -> None:
    unknown = sorted(str(k) for k in item if k not in KEYS and k != "operation")
    if unknown:
        raise InvalidRecord(
            f"unknown key {', '.join(map(_short, unknown))}; a record has exactly the keys "
            f'{", ".join(KEYS)} and optionally operation (put Salesforce fields inside "fields")'
        )
    if operation == "delete":
        if item.get("fields") not in (None, {}):
            raise InvalidRecord(
                "a deletion carries no fields: leave fields out (or give {}); it deletes the "
                "record its external id names"
            )
        wanted: tuple[str, ...] = KEYS[:3]
    else:
        wanted = KEYS
    for key in wanted:
        if key not in item:
            raise InvalidRecord(f"{key} is missing; a record needs {', '.join(wanted)}")


def _api_name(value: Any, what: str) -> str:
    """`value` if it is a Salesforce API name (else InvalidRecord); the same few names come
    in every record of a stream: a name checked once is known (`_known_api_name`)."""
    if type(value) is str and value in _KNOWN_NAMES:
        return value
    checked = _check_api_name(value, what)
    if len(_KNOWN_NAMES) < 10_000:
        _KNOWN_NAMES.add(checked)
    return checked


_KNOWN_NAMES: set[str] = set()


def _check_api_name(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidRecord(
            f"{what} must be a string (a Salesforce API name), not {_json_type(value)}"
        )
    if not value:
        raise InvalidRecord(
            f"{what} is empty; give a Salesforce API name such as Contact or ExtId__c"
        )
    if len(value) > MAX_API_NAME_LENGTH:
        raise InvalidRecord(
            f"{what} {value[:40]!r}… is {len(value)} characters long; Salesforce API names "
            f"have at most {MAX_API_NAME_LENGTH}"
        )
    if not _API_NAME.fullmatch(value):
        raise InvalidRecord(
            f"{what} {value!r} is not a Salesforce API name: use letters, digits and single "
            f"underscores, start with a letter, no trailing underscore; double underscores "
            f"only after a namespace (ns__) and before a suffix such as __c or __r"
        )
    return value


def _external_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidRecord(f"external_id must be a string or an integer, not {_json_type(value)}")
    text = str(value)
    if not text.strip():
        raise InvalidRecord("external_id is empty; every record needs the value of its external id")
    if len(text) > MAX_EXTERNAL_ID_LENGTH:
        raise InvalidRecord(
            f"external_id is {len(text)} characters long; at most {MAX_EXTERNAL_ID_LENGTH} fit"
        )
    if text in (".", ".."):
        raise InvalidRecord(
            f"external_id {text!r} cannot be sent: in the single-record upsert URL (crm_replay) "
            "it is a path segment that HTTP clients remove; use another value"
        )
    _check_text(text, "external_id")
    return text


def _fields(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRecord(
            f"fields must be a JSON object of Salesforce field name → value, not {_json_type(value)}"
        )
    if len(value) > MAX_FIELDS:
        raise InvalidRecord(f"fields has {len(value)} entries; at most {MAX_FIELDS} are allowed")
    checked: dict[str, Any] = {}
    seen: dict[str, str] = {}  # lower-cased name → name: Salesforce names ignore case
    for name, field_value in value.items():
        if not isinstance(name, str):
            raise InvalidRecord(f"field name {_short(name)} must be a string")
        _api_name(name, "field name")
        if name.lower() in seen:
            raise InvalidRecord(
                f"fields has both {seen[name.lower()]} and {name}; Salesforce field names "
                "ignore case, so these are the same field: keep one"
            )
        seen[name.lower()] = name
        if name.lower() in RESERVED_FIELD_NAMES:
            raise InvalidRecord(
                f"fields.{name} is reserved for the request's own metadata; rename it"
            )
        checked[name] = _field_value(name, field_value)
    return checked


def _field_value(name: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return _reference(name, value)
    return _scalar(value, f"fields.{name}")


def _reference(name: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """A parent looked up by its external id: {"Account": {"ExtId__c": "acme"}}."""
    hint = (
        f'write it as "{name}": {{"ExtId__c": "value"}}, naming one external id field of the parent'
    )
    if len(value) != 1:
        raise InvalidRecord(
            f"fields.{name} is an object with {len(value)} keys; a reference to a parent has one; {hint}"
        )
    ((key, ref),) = value.items()
    if not isinstance(key, str):
        raise InvalidRecord(f"fields.{name} has a non-string key; {hint}")
    _api_name(key, f"external id field of fields.{name}:")
    if ref is None or isinstance(ref, Mapping | list | tuple):
        raise InvalidRecord(f"fields.{name}.{key} must be the parent's external id value; {hint}")
    return {key: _scalar(ref, f"fields.{name}.{key}")}


def _scalar(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRecord(f"{where} is {value}; JSON and Salesforce take finite numbers only")
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            raise InvalidRecord(
                f"{where} is {len(value):,} characters long; Salesforce text fields hold at "
                f"most {MAX_STRING_LENGTH:,}"
            )
        _check_text(value, where)
        return value
    raise InvalidRecord(
        f"{where} is {_json_type(value)}; a field value is a string, number, true/false or "
        f'null (or, under a relationship name, a reference such as {{"ExtId__c": "value"}})'
    )


def _check_text(text: str, where: str) -> None:
    match = _FORBIDDEN_CHARS.search(text)
    if match:
        raise InvalidRecord(
            f"{where} contains the control character U+{ord(match.group()):04X} at position "
            f"{match.start() + 1}; remove it (only tab, line feed and carriage return are allowed)"
        )


def _check_size(record: RecordInput) -> None:
    """At most MAX_RECORD_BYTES as compact UTF-8 JSON. A record whose text cannot come near
    it (6 bytes per character at worst: 4 in UTF-8, or an escape) is not encoded to know."""
    rough = len(record.external_id) + sum(
        len(name) + (len(value) if isinstance(value, str) else 64)
        for name, value in record.fields.items()
    )
    if rough * 6 + 4096 < MAX_RECORD_BYTES:
        return
    size = len(
        json.dumps(
            [record.sobject, record.external_id_field, record.external_id, record.fields],
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
    )
    if size > MAX_RECORD_BYTES:
        raise InvalidRecord(
            f"the record is {size:,} bytes as JSON; at most {MAX_RECORD_BYTES:,} are allowed "
            f"(split it, or shorten its longest fields)"
        )


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
