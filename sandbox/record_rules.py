"""The lists of per-record rules an object may have (rules.py): `validation`, `trigger_fail`
and `delete_fail`, each entry with an optional `when` condition on the record's fields.

A `when` is `{"field": F, "equals": V}`; a rule without one applies to every record.
Upserts test it against the record as it would be written, deletes against the record as
it is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sandbox.rule_values import (
    RulesError,
    as_list,
    as_object,
    field_names,
    kind,
    known_keys,
    required_keys,
    text,
)

SCOPES = ("record", "chunk")  # a rule's failure takes its record, or the record's whole chunk
DELETE_FAILED = "DELETE_FAILED"
STATUS_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")  # Salesforce's error codes: DELETE_FAILED, ...
Rule = TypeVar("Rule")


@dataclass(frozen=True)
class Condition:
    field: str
    equals: Any

    def matches(self, record: dict[str, Any]) -> bool:
        return record.get(self.field) == self.equals


@dataclass(frozen=True)
class ValidationRule:
    """`require`: the field must not be blank (when `when` matches); `not_lower`: a write
    must not lower the field's stored number (a version field: an older write is refused,
    its error at that field)."""

    name: str
    when: Condition | None
    require: str
    message: str
    not_lower: str = ""


@dataclass(frozen=True)
class TriggerRule:
    when: Condition | None
    message: str
    scope: str = "record"  # "record": the matching record fails; "chunk": its whole chunk


@dataclass(frozen=True)
class DeleteRule:
    """A delete of a matching record is refused with `code` and `message` (a trigger's
    `addError`, or an org's own refusal such as a record still in use)."""

    when: Condition | None
    message: str
    code: str = DELETE_FAILED
    scope: str = "record"  # "record": the matching record fails; "chunk": its whole chunk

    def matches(self, record: dict[str, Any]) -> bool:
        return self.when is None or self.when.matches(record)


def parse_list(raw: Any, where: str, parse: Callable[[Any, str], Rule]) -> tuple[Rule, ...]:
    """A JSON list of rules, each checked by `parse(item, where[i])`."""
    return tuple(parse(item, f"{where}[{i}]") for i, item in enumerate(as_list(raw, where)))


def validation_rule(raw: Any, where: str) -> ValidationRule:
    spec = as_object(raw, where)
    known_keys(spec, {"name", "when", "require", "not_lower", "message"}, where)
    required_keys(spec, ("message",), where)
    if ("require" in spec) == ("not_lower" in spec):
        raise RulesError(f"{where}: give exactly one of 'require' and 'not_lower'")
    return ValidationRule(
        name=text(spec.get("name", "Sandbox_Validation_Rule"), f"{where}.name"),
        when=_when(spec, where),
        require=field_names([spec["require"]], f"{where}.require")[0] if "require" in spec else "",
        message=text(spec["message"], f"{where}.message"),
        not_lower=field_names([spec["not_lower"]], f"{where}.not_lower")[0]
        if "not_lower" in spec
        else "",
    )


def trigger_rule(raw: Any, where: str) -> TriggerRule:
    spec = as_object(raw, where)
    known_keys(spec, {"when", "message", "scope"}, where)
    required_keys(spec, ("message",), where)
    return TriggerRule(
        when=_when(spec, where),
        message=text(spec["message"], f"{where}.message"),
        scope=_scope(spec, where),
    )


def delete_rule(raw: Any, where: str) -> DeleteRule:
    """{"when": {...}, "code": "DELETE_FAILED", "message": "...", "scope": "record"}."""
    spec = as_object(raw, where)
    known_keys(spec, {"when", "code", "message", "scope"}, where)
    required_keys(spec, ("message",), where)
    code = spec.get("code", DELETE_FAILED)
    if not isinstance(code, str) or not STATUS_CODE.match(code):
        raise RulesError(
            f"{where}.code: expected an error code in capitals, like {json.dumps(DELETE_FAILED)},"
            f" got {kind(code)}"
        )
    return DeleteRule(
        when=_when(spec, where),
        message=text(spec["message"], f"{where}.message"),
        code=code,
        scope=_scope(spec, where),
    )


def condition_fields(rules: tuple[Any, ...]) -> list[str]:
    """The fields the `when` conditions of `rules` name."""
    return [rule.when.field for rule in rules if rule.when is not None]


def _scope(spec: dict[str, Any], where: str) -> str:
    scope = spec.get("scope", "record")
    if scope not in SCOPES:
        raise RulesError(
            f"{where}.scope: expected one of {', '.join(map(json.dumps, SCOPES))},"
            f" got {kind(scope)}"
        )
    return str(scope)


def _when(spec: dict[str, Any], where: str) -> Condition | None:
    if "when" not in spec:
        return None
    where = f"{where}.when"
    condition = as_object(spec["when"], where)
    known_keys(condition, {"field", "equals"}, where)
    required_keys(condition, ("field", "equals"), where)
    value = condition["equals"]
    if isinstance(value, (dict, list)):
        raise RulesError(f"{where}.equals: expected a string, number, boolean or null")
    return Condition(field=field_names([condition["field"]], f"{where}.field")[0], equals=value)
