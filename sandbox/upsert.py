"""Upsert by external id: the sObject Collections call and the single-record call share this.

Shapes follow "Upsert Records Using sObject Collections"
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm):
a malformed request is a 400 with an error array; otherwise 200 with one UpsertResult
per record, in request order.

Error codes and messages, where Salesforce's own wording was checked:
- duplicate external id in one request: every record sharing the value gets
  `DUPLICATE_VALUE` "Duplicate external id specified: <value>" with the field
  (https://salesforce.stackexchange.com/questions/104048, .../296121).
- parent missing by external id: `INVALID_FIELD` "Foreign key external ID: <v> not found for
  field <F> in entity <Parent>" (https://docs.polytomic.com/docs/saleforceinvalid_reference_error;
  Apache Camel's Salesforce tests assert errorCode INVALID_FIELD for it); parent missing by
  Id: `INVALID_CROSS_REFERENCE_KEY` "invalid cross reference id" (`ENTITY_IS_DELETED`
  "entity is deleted" when the parent is in the recycle bin).
- more than 200 records: 400 `EXCEEDED_ID_LIMIT` "record limit reached. cannot submit more
  than 200 records into this call" (github.com/sorenkrabbe/Chrome-Salesforce-inspector#134).
- missing external id value: `MISSING_ARGUMENT` "<F> not specified".
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from sandbox import apex, errors
from sandbox.errors import record_error
from sandbox.faults import Faults
from sandbox.ids import SF_ID, checksum
from sandbox.rules import FIELD_NAME, ObjectRules
from sandbox.store import PlannedWrite, Store, index_key
from sandbox.types import record_type_error

LOCKED_ROW = "unable to obtain exclusive access to this record"


class RecordRejected(Exception):
    """One record fails a check; `error` is its entry for the result's `errors`.

    `chunk`: a trigger threw for it whose failure takes the whole chunk (apex.py).
    """

    def __init__(self, error: dict[str, Any], chunk: bool = False) -> None:
        super().__init__(error["message"])
        self.error = error
        self.chunk = chunk


class RecordOutcome:
    """What happened to one record (a plain slotted class: one is made per record)."""

    __slots__ = ("sf_id", "created", "errors")

    def __init__(self) -> None:
        self.sf_id: str | None = None
        self.created = False
        self.errors: list[dict[str, Any]] = []

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_result(self) -> dict[str, Any]:
        """The UpsertResult JSON of sObject Collections."""
        return {
            "id": self.sf_id if self.ok else None,
            "success": self.ok,
            "errors": self.errors,
            "created": self.created if self.ok else False,
        }

    def as_json(self) -> str:
        """`as_result()` encoded; successes by template (ids are alphanumeric), for speed."""
        if self.errors:
            return json.dumps(self.as_result())
        created = "true" if self.created else "false"
        return f'{{"id":"{self.sf_id}","success":true,"errors":[],"created":{created}}}'


def check_external_id_field(rules: ObjectRules, external_id_field: str) -> None:
    """An upsert names an existing, non-Id field; else Salesforce answers 404 NOT_FOUND."""
    if external_id_field == "Id" or not FIELD_NAME.match(external_id_field):
        raise errors.not_found()
    if rules.fields is not None and external_id_field not in rules.fields:
        raise errors.not_found()


def check_field_names(rules: ObjectRules, sobject: str, records: list[dict[str, Any]]) -> None:
    """Reject the whole request (400 INVALID_FIELD) if any record names an unknown field."""
    names = set().union(*records) - {"attributes"}
    if rules.fields is not None:
        allowed = rules.fields | set(rules.relationships) | {"Id"}
        for name in sorted(names - allowed):
            raise errors.no_such_column(name, sobject)
    for name in sorted(names):
        if not FIELD_NAME.match(name):
            raise errors.no_such_column(name, sobject)


class Upserter:
    """Applies upserts to the store under the rules and faults in force."""

    def __init__(
        self, store: Store, faults: Faults, rules_of: Callable[[str], ObjectRules]
    ) -> None:
        self.store = store
        self.faults = faults
        self.rules_of = rules_of  # an sObject's rules now (for parents of lookups)

    def upsert(
        self,
        rules: ObjectRules,
        sobject: str,
        external_id_field: str,
        records: list[dict[str, Any]],
        all_or_none: bool,
        cpu: apex.CpuMeter,
    ) -> list[RecordOutcome]:
        """Upsert `records` (already shape-checked) and say what happened to each.

        1. Charge the records' Apex CPU time to the transaction (`cpu`); past its limit
           every record fails with the CPU limit error and nothing is written.
        2. Records without an external id value, or sharing one, fail. Unless the field is
           `case_sensitive`, external ids compare folded to lower case ("ABC" is "abc").
        3. Look up existing records by external id (in-memory index) and load them.
        4. The next `lock_rows_next` still-good records fail with UNABLE_TO_LOCK_ROW.
        5. Check each remaining record against the object's rules, in Salesforce's order:
           field permissions, required, length, email and picklist values (types.py),
           lookups, triggers, validation rules.
        6. A trigger with scope "chunk" threw: every record fails with its error, nothing
           is written.
        7. allOrNone and any failure: nothing is written, the good ones are rolled back.
           Otherwise write the good ones in one transaction (with the write log).
        """
        values = [record.get(external_id_field) for record in records]
        fold = not rules.case_sensitive(external_id_field)
        if fold:  # str: the common case
            keys = [v.lower() if type(v) is str else index_key(v, fold) for v in values]
        else:
            keys = [v if type(v) is str else index_key(v) for v in values]
        outcomes = [RecordOutcome() for _ in records]
        if rules.cpu_ms_per_record and not cpu.charge(rules.cpu_ms_per_record * len(records)):
            return apex.fail_all(outcomes, apex.cpu_limit_error(sobject))
        with self.store.lock:
            self._reject_missing_and_duplicate(external_id_field, values, keys, outcomes)
            existing = self.store.external_index(sobject, external_id_field, fold)
            self._lock_rows(sobject, outcomes, keys, existing)
            planned, chunk_error = self._plan(
                rules, external_id_field, records, keys, existing, outcomes
            )
            if chunk_error is not None:
                return apex.fail_all(outcomes, chunk_error)
            if all_or_none and any(not o.ok for o in outcomes):
                return _rolled_back(outcomes)
            self.store.apply(sobject, [write for _, write in planned])
        for position, write in planned:
            outcomes[position].sf_id = write.sf_id
            outcomes[position].created = write.created
        return outcomes

    def _plan(
        self,
        rules: ObjectRules,
        external_id_field: str,
        records: list[dict[str, Any]],
        keys: list[str | None],
        existing: dict[str, str],
        outcomes: list[RecordOutcome],
    ) -> tuple[list[tuple[int, PlannedWrite]], dict[str, Any] | None]:
        """Step 5: the write each still-good record makes, by position, and the error of a
        trigger whose failure takes the whole chunk (None: none threw so)."""
        parents = self._parents_by_id(rules, records)
        planned: list[tuple[int, PlannedWrite]] = []
        chunk_error = None
        for position, record in enumerate(records):
            if outcomes[position].errors:
                continue
            sf_id = existing.get(keys[position])  # type: ignore[arg-type]
            old = self.store.fields_of(sf_id) if sf_id else {}
            try:
                write = self._check(rules, external_id_field, record, sf_id, old, parents)
            except RecordRejected as rejected:
                outcomes[position].errors.append(rejected.error)
                if rejected.chunk and chunk_error is None:
                    chunk_error = rejected.error
                continue
            planned.append((position, write))
        return planned, chunk_error

    def _reject_missing_and_duplicate(
        self,
        external_id_field: str,
        values: list[Any],
        keys: list[str | None],
        outcomes: list[RecordOutcome],
    ) -> None:
        counts = Counter(keys)
        for value, key, outcome in zip(values, keys, outcomes, strict=True):
            if key is None or key == "":
                outcome.errors.append(
                    record_error("MISSING_ARGUMENT", f"{external_id_field} not specified")
                )
            elif counts[key] > 1:
                outcome.errors.append(
                    record_error(
                        "DUPLICATE_VALUE",
                        f"Duplicate external id specified: {index_key(value)}",
                        [external_id_field],
                    )
                )

    def _lock_rows(
        self,
        sobject: str,
        outcomes: list[RecordOutcome],
        keys: list[str | None],
        existing: dict[str, str],
    ) -> None:
        """The next `lock_rows_next` good records fail: UNABLE_TO_LOCK_ROW, or wrapped in a
        trigger's CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY under `lock_wrapped`."""
        candidates = [position for position, o in enumerate(outcomes) if not o.errors]
        locked, wrapped = self.faults.take_locked_rows(len(candidates))
        for position in candidates[:locked]:
            if wrapped:
                sf_id = existing.get(keys[position])  # type: ignore[arg-type]
                error = apex.wrapped_lock_error(sobject, sf_id)
            else:
                error = record_error("UNABLE_TO_LOCK_ROW", LOCKED_ROW)
            outcomes[position].errors.append(error)

    def _parents_by_id(self, rules: ObjectRules, records: list[dict[str, Any]]) -> set[str]:
        """Every parent id referenced by Id in `records` that exists as the right object."""
        found: set[str] = set()
        for reference_field, parent in rules.lookups.items():
            ids = {
                full_id(r[reference_field])
                for r in records
                if isinstance(r.get(reference_field), str) and SF_ID.match(r[reference_field])
            }
            found |= self.store.existing_ids(parent, ids)
        return found

    def _check(
        self,
        rules: ObjectRules,
        external_id_field: str,
        record: dict[str, Any],
        sf_id: str | None,
        old: dict[str, Any],
        parents: set[str],
    ) -> PlannedWrite:
        """Return the write to make; raise RecordRejected with the first failing check."""
        sent = dict(record)
        sent.pop("attributes", None)
        sent.pop("Id", None)
        error = (
            (rules.readonly and _field_permission_error(rules, sent))
            or (rules.required and _required_error(rules, sent, sf_id is None))
            or (rules.max_length and _length_error(rules, sent))
            or (rules.record_checked_types and record_type_error(rules, sent))
        )
        if error:
            raise RecordRejected(error)
        applied = self._resolve_lookups(rules, sent, parents) if rules.lookups else sent
        merged = {**old, **applied}
        fired = rules.trigger_fail and apex.fired_trigger(rules, merged)
        if fired:
            raise RecordRejected(apex.trigger_error(fired), chunk=fired.scope == "chunk")
        invalid = rules.validation and _validation_error(rules, merged, old)
        if invalid:
            raise RecordRejected(invalid)
        return PlannedWrite(
            sf_id=sf_id,
            external_id_field=external_id_field,
            external_id=record.get(external_id_field),
            applied=applied,
            merged=merged,
            old=old,
        )

    def _resolve_lookups(
        self, rules: ObjectRules, sent: dict[str, Any], parents: set[str]
    ) -> dict[str, Any]:
        """Replace relationship references by parent ids; RecordRejected if a parent is missing."""
        applied = dict(sent)
        for relationship, reference_field in rules.relationships.items():
            parent = rules.lookups[reference_field]
            if relationship in applied:
                reference = applied.pop(relationship)
                applied[reference_field] = self._parent_by_external_id(parent, reference)
            elif applied.get(reference_field) not in (None, ""):
                value = applied[reference_field]
                if not isinstance(value, str) or full_id(value) not in parents:
                    raise RecordRejected(self._missing_parent(parent, value, reference_field))
                applied[reference_field] = full_id(value)
        return applied

    def _missing_parent(self, parent: str, value: Any, reference_field: str) -> dict[str, Any]:
        """A parent id of no live record: ENTITY_IS_DELETED if it is in the recycle bin."""
        if isinstance(value, str) and self.store.deleted_sobject_of(full_id(value)) == parent:
            return record_error("ENTITY_IS_DELETED", "entity is deleted", [reference_field])
        message = "invalid cross reference id"
        return record_error("INVALID_CROSS_REFERENCE_KEY", message, [reference_field])

    def _parent_by_external_id(self, parent: str, reference: Any) -> str:
        if not isinstance(reference, dict) or len(reference) != 1:
            raise RecordRejected(
                record_error(
                    "INVALID_FIELD",
                    f"A reference to {parent} must name one external id field, like"
                    ' {"ExtId__c": "value"}',
                )
            )
        ((field_name, value),) = reference.items()
        fold = not self.rules_of(parent).case_sensitive(field_name)
        found = self.store.ids_by_external_id(parent, field_name, [value], fold)
        key = index_key(value, fold)
        if key is None or key not in found:
            raise RecordRejected(
                record_error(
                    "INVALID_FIELD",
                    f"Foreign key external ID: {value} not found for field {field_name}"
                    f" in entity {parent}",
                )
            )
        return found[key]


def full_id(sf_id: str) -> str:
    """The 18-character form of a 15-character id; anything else unchanged."""
    return sf_id + checksum(sf_id) if len(sf_id) == 15 and SF_ID.match(sf_id) else sf_id


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _field_permission_error(rules: ObjectRules, sent: dict[str, Any]) -> dict[str, Any] | None:
    if not rules.readonly:
        return None
    readonly = [name for name in sent if name in rules.readonly]
    if not readonly:
        return None
    return record_error(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {', '.join(readonly)}. Please check the security"
        " settings of this field and verify that it is read/write for your profile or"
        " permission set.",
        readonly,
    )


def _required_error(
    rules: ObjectRules, sent: dict[str, Any], creating: bool
) -> dict[str, Any] | None:
    if creating:
        missing = [name for name in rules.required if _blank(sent.get(name))]
    else:
        missing = [name for name in rules.required if name in sent and _blank(sent[name])]
    if not missing:
        return None
    return record_error(
        "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
    )


def _length_error(rules: ObjectRules, sent: dict[str, Any]) -> dict[str, Any] | None:
    for name, limit in rules.max_length.items():
        value = sent.get(name)
        if isinstance(value, str) and len(value) > limit:
            return record_error(
                "STRING_TOO_LONG",
                f"{name}: data value too large: {value} (max length={limit})",
                [name],
            )
    return None


def _validation_error(
    rules: ObjectRules, merged: dict[str, Any], old: dict[str, Any]
) -> dict[str, Any] | None:
    for rule in rules.validation:
        if rule.when is not None and not rule.when.matches(merged):
            continue
        if rule.require and _blank(merged.get(rule.require)):
            return record_error("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message)
        if rule.not_lower and _lowered(old.get(rule.not_lower), merged.get(rule.not_lower)):
            fields = [rule.not_lower]
            return record_error("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message, fields)
    return None


def _lowered(stored: Any, written: Any) -> bool:
    """A version field's write below the stored number (PRIORVALUE > the new value)."""
    numbers = (int, float)
    return isinstance(stored, numbers) and isinstance(written, numbers) and written < stored


def _rolled_back(outcomes: list[RecordOutcome]) -> list[RecordOutcome]:
    for outcome in outcomes:
        if outcome.ok:
            outcome.errors.append(
                record_error("ALL_OR_NONE_OPERATION_ROLLED_BACK", errors.ROLLED_BACK)
            )
    return outcomes
