"""The sandbox's rules (docs/sandbox-rules.md): who may log in, what each object accepts, which faults.

`parse_rules(raw)` checks a rules document (from `--rules FILE` or `PUT /sandbox/rules`)
and turns it into frozen dataclasses; any problem is a `RulesError` whose message names
the key path and what was expected, e.g.
`rules: objects.Contact.max_length.LastName: expected an integer >= 1, got "80"`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.record_rules import (
    DeleteRule,
    TriggerRule,
    ValidationRule,
    condition_fields,
    delete_rule,
    parse_list,
    trigger_rule,
    validation_rule,
)
from sandbox.rule_values import FIELD_NAME, RulesError
from sandbox.rule_values import as_list as _list
from sandbox.rule_values import as_object as _object
from sandbox.rule_values import boolean as _bool
from sandbox.rule_values import field_names as _names
from sandbox.rule_values import integer as _int
from sandbox.rule_values import kind as _kind
from sandbox.rule_values import known_keys as _known_keys
from sandbox.rule_values import name_map as _string_map
from sandbox.rule_values import number as _number

DEFAULT_CLIENTS = {"sandbox": "sandbox"}
DEFAULT_TOKEN_TTL_S = 7200

TOP_KEYS = {"auth", "objects", "faults"}
AUTH_KEYS = {"clients", "token_ttl_s"}
OBJECT_KEYS = {
    "cpu_ms_per_record",
    "external_ids",
    "field_types",
    "fields",
    "required",
    "max_length",
    "readonly",
    "validation",
    "trigger_fail",
    "delete_fail",
    "lookups",
}
# field types as describe reports them (types.py checks values against them)
FIELD_TYPES = ("string", "email", "date", "datetime", "double", "int", "boolean", "picklist")
# fault name -> (minimum, maximum); all integers.
FAULT_RANGES: dict[str, tuple[int, int]] = {
    "latency_ms": (0, 600_000),
    "fail_next": (0, 10**9),
    "fail_status": (400, 599),
    "lock_rows_next": (0, 10**9),
    "stall_next": (0, 10**9),
    "stall_ms": (0, 600_000),
    "stall_after": (0, 10**9),
    "api_daily_limit": (0, 10**12),
    "cpu_limit_ms": (1, 10**9),
    "max_concurrent_requests": (0, 10**6),
}
# fault name -> (minimum, maximum); any number (integer or decimal)
FAULT_SCALES: dict[str, tuple[float, float]] = {"server_time_scale": (0.0, 1000.0)}
# faults that are booleans
FAULT_FLAGS = ("lock_wrapped",)
FAULT_KEYS = frozenset(FAULT_RANGES) | frozenset(FAULT_SCALES) | frozenset(FAULT_FLAGS)
MAX_CPU_MS_PER_RECORD = 600_000
FaultValue = int | float | bool


@dataclass(frozen=True)
class FieldType:
    kind: str  # one of FIELD_TYPES
    picklist_values: tuple[str, ...] = ()  # a picklist's allowed values (restricted)


@dataclass(frozen=True)
class ObjectRules:
    fields: frozenset[str] | None = None  # None: any field is accepted
    required: tuple[str, ...] = ()
    max_length: dict[str, int] = field(default_factory=dict)
    readonly: frozenset[str] = frozenset()
    validation: tuple[ValidationRule, ...] = ()
    trigger_fail: tuple[TriggerRule, ...] = ()
    delete_fail: tuple[DeleteRule, ...] = ()  # deletes the org refuses
    lookups: dict[str, str] = field(default_factory=dict)  # reference field -> parent object
    # relationship name (Account) -> reference field (AccountId), derived from `lookups`
    relationships: dict[str, str] = field(default_factory=dict)
    cpu_ms_per_record: float = 0  # Apex CPU time each record costs its transaction
    field_types: dict[str, FieldType] = field(default_factory=dict)
    # the field_types that are checked per record (email, picklist), derived
    record_checked_types: tuple[tuple[str, FieldType], ...] = ()
    external_ids: dict[str, bool] = field(default_factory=dict)  # field -> case_sensitive

    def case_sensitive(self, external_id_field: str) -> bool:
        """Whether external ids of the field compare exactly (default: they fold case)."""
        return self.external_ids.get(external_id_field, False)


@dataclass(frozen=True)
class Rules:
    clients: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CLIENTS))
    token_ttl_s: int = DEFAULT_TOKEN_TTL_S
    objects: dict[str, ObjectRules] = field(default_factory=dict)
    faults: dict[str, FaultValue] = field(default_factory=dict)  # only the keys given
    raw: dict[str, Any] = field(default_factory=dict)

    def for_object(self, sobject: str) -> ObjectRules:
        return self.objects.get(sobject) or ObjectRules()


def load_rules_file(path: Path) -> Rules:
    """Read and check a rules file; RulesError names the file and the problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"cannot read rules file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise RulesError(
            f"rules file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 JSON"
        ) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RulesError(
            f"rules file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    try:
        return parse_rules(raw)
    except RulesError as exc:
        raise RulesError(f"rules file {path}: {exc}") from None


def parse_rules(raw: Any) -> Rules:
    """Check a rules document key by key and build `Rules`.

    1. The top level is an object with only `auth`, `objects`, `faults`.
    2. `auth.clients` maps client ids to secrets; `auth.token_ttl_s` is an integer >= 1.
    3. Each object's keys are checked for type; named fields must be field names and, when
       the object lists `fields`, must be among them.
    4. Faults are integers in their range, numbers in their range (FAULT_SCALES), or
       booleans (FAULT_FLAGS).
    """
    top = _object(raw, "rules")
    _known_keys(top, TOP_KEYS, "rules")
    auth = _object(top.get("auth", {}), "auth")
    _known_keys(auth, AUTH_KEYS, "auth")
    clients = _clients(auth.get("clients", DEFAULT_CLIENTS))
    ttl = _int(auth.get("token_ttl_s", DEFAULT_TOKEN_TTL_S), "auth.token_ttl_s", 1, 10**9)
    objects_raw = _object(top.get("objects", {}), "objects")
    objects = {name: _object_rules(name, spec) for name, spec in objects_raw.items()}
    faults = parse_faults(top.get("faults", {}))
    return Rules(clients=clients, token_ttl_s=ttl, objects=objects, faults=faults, raw=top)


def parse_faults(raw: Any, where: str = "faults") -> dict[str, FaultValue]:
    """Check a faults object: known keys only, each an integer within its range or a flag."""
    faults = _object(raw, where)
    _known_keys(faults, set(FAULT_KEYS), where)
    return {name: _fault(name, value, f"{where}.{name}") for name, value in faults.items()}


def _fault(name: str, value: Any, where: str) -> FaultValue:
    if name in FAULT_FLAGS:
        return _bool(value, where)
    if name in FAULT_SCALES:
        return _number(value, where, *FAULT_SCALES[name])
    return _int(value, where, *FAULT_RANGES[name])


def relationship_name(reference_field: str) -> str:
    """AccountId -> Account, Parent_Account__c -> Parent_Account__r."""
    if reference_field.endswith("__c"):
        return reference_field[:-3] + "__r"
    if reference_field.endswith("Id") and len(reference_field) > 2:
        return reference_field[:-2]
    return reference_field + "__r"


def _clients(raw: Any) -> dict[str, str]:
    clients = _object(raw, "auth.clients")
    if not clients:
        raise RulesError("auth.clients: expected at least one client id, got an empty object")
    for client_id, secret in clients.items():
        if not isinstance(secret, str) or not secret:
            raise RulesError(
                f"auth.clients.{client_id}: expected the client secret as a non-empty string"
            )
    return dict(clients)


def _object_rules(name: str, raw: Any) -> ObjectRules:
    where = f"objects.{name}"
    if not FIELD_NAME.match(name):
        raise RulesError(f"objects: {name!r} is not an sObject API name (letters, digits, _)")
    spec = _object(raw, where)
    _known_keys(spec, OBJECT_KEYS, where)
    listed = frozenset(_names(spec["fields"], f"{where}.fields")) if "fields" in spec else None
    lookups = _string_map(spec.get("lookups", {}), f"{where}.lookups")
    max_length = {
        key: _int(value, f"{where}.max_length.{key}", 1, 10**9)
        for key, value in _object(spec.get("max_length", {}), f"{where}.max_length").items()
    }
    field_types = _field_types(spec.get("field_types", {}), f"{where}.field_types", lookups)
    rules = ObjectRules(
        fields=listed,
        required=tuple(_names(spec.get("required", []), f"{where}.required")),
        max_length=max_length,
        readonly=frozenset(_names(spec.get("readonly", []), f"{where}.readonly")),
        validation=parse_list(spec.get("validation", []), f"{where}.validation", validation_rule),
        trigger_fail=parse_list(
            spec.get("trigger_fail", []), f"{where}.trigger_fail", trigger_rule
        ),
        delete_fail=parse_list(spec.get("delete_fail", []), f"{where}.delete_fail", delete_rule),
        lookups=lookups,
        relationships={relationship_name(ref): ref for ref in lookups},
        cpu_ms_per_record=_number(
            spec.get("cpu_ms_per_record", 0),
            f"{where}.cpu_ms_per_record",
            0,
            MAX_CPU_MS_PER_RECORD,
        ),
        field_types=field_types,
        record_checked_types=tuple(
            (name, kind) for name, kind in field_types.items() if kind.kind in ("email", "picklist")
        ),
        external_ids=_external_ids(spec.get("external_ids", {}), f"{where}.external_ids"),
    )
    _check_named_fields_listed(rules, where)
    return rules


def _check_named_fields_listed(rules: ObjectRules, where: str) -> None:
    if rules.fields is None:
        return
    named = [
        *(("required", f) for f in rules.required),
        *(("max_length", f) for f in rules.max_length),
        *(("readonly", f) for f in rules.readonly),
        *(("lookups", f) for f in rules.lookups),
        *(("field_types", f) for f in rules.field_types),
        *(("external_ids", f) for f in rules.external_ids),
        *(("validation", r.require or r.not_lower) for r in rules.validation),
        *(("validation", f) for f in condition_fields(rules.validation)),
        *(("trigger_fail", f) for f in condition_fields(rules.trigger_fail)),
        *(("delete_fail", f) for f in condition_fields(rules.delete_fail)),
    ]
    for key, name in named:
        if name not in rules.fields:
            raise RulesError(
                f"{where}.{key} names field {name!r}, which is not in {where}.fields; "
                f"add it to the list of fields or remove it"
            )


def _field_types(raw: Any, where: str, lookups: dict[str, str]) -> dict[str, FieldType]:
    """{"Birthdate": "date", "Stage__c": {"type": "picklist", "picklist_values": [...]}}."""
    spec = _object(raw, where)
    _names(list(spec), where)
    types = {}
    for name, value in spec.items():
        if name in lookups:
            raise RulesError(
                f"{where}.{name}: {name} is a lookup (type reference); remove it from field_types"
            )
        types[name] = _field_type(value, f"{where}.{name}")
    return types


def _field_type(raw: Any, where: str) -> FieldType:
    spec = _object(raw, where) if not isinstance(raw, str) else {"type": raw}
    _known_keys(spec, {"type", "picklist_values"}, where)
    kind = spec.get("type")
    if kind not in FIELD_TYPES:
        raise RulesError(f"{where}: expected a type ({', '.join(FIELD_TYPES)}), got {_kind(kind)}")
    if kind != "picklist":
        if "picklist_values" in spec:
            raise RulesError(f"{where}.picklist_values: only a picklist has picklist_values")
        return FieldType(kind)
    if "picklist_values" not in spec:
        raise RulesError(
            f'{where}: a picklist needs its values: {{"type": "picklist", "picklist_values":'
            ' ["A", "B"]}'
        )
    values = _list(spec["picklist_values"], f"{where}.picklist_values")
    if not values or not all(isinstance(v, str) and v for v in values):
        raise RulesError(f"{where}.picklist_values: expected a list of non-empty strings")
    return FieldType(kind, tuple(values))


def _external_ids(raw: Any, where: str) -> dict[str, bool]:
    """{"ExtId__c": {"case_sensitive": false}} -> {"ExtId__c": False}."""
    spec = _object(raw, where)
    _names(list(spec), where)
    found = {}
    for name, value in spec.items():
        options = _object(value, f"{where}.{name}")
        _known_keys(options, {"case_sensitive"}, f"{where}.{name}")
        found[name] = _bool(options.get("case_sensitive", False), f"{where}.{name}.case_sensitive")
    return found
