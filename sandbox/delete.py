"""Deletes by Id: the sObject Collections call and the single-record calls share this.

Shapes follow "Delete Records Using sObject Collections"
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_delete.htm):
`DELETE composite/sobjects?ids=ID1,ID2&allOrNone=false`, up to 200 ids of any objects; a
malformed request is a 400 with an error array, otherwise 200 with one DeleteResult per id
in the order given: `{"id", "success", "errors"}`.

An id that names no live record fails its record, as in a real org:
- the id of a deleted record (in the recycle bin): `ENTITY_IS_DELETED` "entity is deleted";
- a well-formed id of no record: `INVALID_CROSS_REFERENCE_KEY` "invalid cross reference id";
- not an id (15 or 18 letters and digits, the 18-character form with a right checksum):
  `MALFORMED_ID` "malformed id <value>", the result's `id` null (Salesforce's example
  result for it has no id);
- the same id twice in one request: `DUPLICATE_VALUE` "Duplicate id in list: <id>" on
  each (Apex refuses such a list: "System.ListException: Duplicate id in list").
More than 200 ids: 400 `EXCEEDED_ID_LIMIT`, Salesforce's message for over-long calls.
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
from sandbox.rules import ObjectRules
from sandbox.store import PlannedDelete, Store, index_key
from sandbox.upsert import LOCKED_ROW

MAX_IDS = 200


class DeleteOutcome:
    """What happened to one id of a delete (a plain slotted class: one is made per id)."""

    __slots__ = ("sf_id", "sobject", "errors")

    def __init__(self, sf_id: str | None) -> None:
        self.sf_id = sf_id  # the 18-character id; None when the id given is malformed
        self.sobject: str | None = None  # the live record's object (None: no live record)
        self.errors: list[dict[str, Any]] = []

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_result(self) -> dict[str, Any]:
        """The DeleteResult JSON of sObject Collections."""
        return {"id": self.sf_id, "success": self.ok, "errors": self.errors}

    def as_json(self) -> str:
        """`as_result()` encoded; successes by template (ids are alphanumeric), for speed."""
        if self.errors:
            return json.dumps(self.as_result())
        return f'{{"id":"{self.sf_id}","success":true,"errors":[]}}'


def well_formed_id(value: str) -> str | None:
    """The 18-character form of a record id, or None if `value` is not one (wrong length or
    characters, or an 18-character id whose checksum does not match)."""
    if not SF_ID.match(value):
        return None
    short = value[:15]
    if len(value) == 18 and value[15:] != checksum(short):
        return None
    return short + checksum(short)


class Deleter:
    """Applies deletes to the store under the rules and faults in force."""

    def __init__(
        self, store: Store, faults: Faults, rules_of: Callable[[str], ObjectRules]
    ) -> None:
        self.store = store
        self.faults = faults
        self.rules_of = rules_of  # an sObject's rules now

    def delete(self, ids: list[str], all_or_none: bool, cpu: apex.CpuMeter) -> list[DeleteOutcome]:
        """Delete the records `ids` name (any objects) and say what happened to each.

        1. Ids that are malformed, repeated, of no record or of a deleted one fail.
        2. Charge each record's `cpu_ms_per_record` to the transaction (`cpu`); past its
           limit every id fails with the CPU limit error and nothing is deleted.
        3. The next `lock_rows_next` still-good records fail with UNABLE_TO_LOCK_ROW.
        4. A `delete_fail` rule matching the stored record refuses it; with scope "chunk"
           every id of the request fails with that error and nothing is deleted.
        5. allOrNone and any failure: nothing is deleted, the good ones are rolled back.
           Otherwise the good ones go to the recycle bin in one transaction (with the log).
        """
        outcomes = [DeleteOutcome(well_formed_id(given)) for given in ids]
        with self.store.lock:
            self._resolve(ids, outcomes)
            found = [o for o in outcomes if o.sobject is not None]
            cost = sum(self.rules_of(str(o.sobject)).cpu_ms_per_record for o in found)
            if cost and not cpu.charge(cost):
                costly = next(o for o in found if self.rules_of(str(o.sobject)).cpu_ms_per_record)
                return apex.fail_all(outcomes, apex.cpu_limit_error(str(costly.sobject)))
            self._lock_rows(outcomes)
            chunk_error = self._refuse(outcomes)
            if chunk_error is not None:
                return apex.fail_all(outcomes, chunk_error)
            if all_or_none and any(not o.ok for o in outcomes):
                return _rolled_back(outcomes)
            self.store.delete([self._planned(o) for o in outcomes if o.ok])
        return outcomes

    def _resolve(self, ids: list[str], outcomes: list[DeleteOutcome]) -> None:
        """Step 1: a live record's object on each good outcome, an error on the others."""
        counts = Counter(o.sf_id for o in outcomes if o.sf_id is not None)
        for given, outcome in zip(ids, outcomes, strict=True):
            sf_id = outcome.sf_id
            if sf_id is None:
                outcome.errors.append(record_error("MALFORMED_ID", f"malformed id {given}"))
            elif counts[sf_id] > 1:
                message = f"Duplicate id in list: {sf_id}"
                outcome.errors.append(record_error("DUPLICATE_VALUE", message))
            elif self.store.sobject_of(sf_id) is not None:
                outcome.sobject = self.store.sobject_of(sf_id)
            elif self.store.deleted_sobject_of(sf_id) is not None:
                outcome.errors.append(record_error("ENTITY_IS_DELETED", "entity is deleted"))
            else:
                message = "invalid cross reference id"
                outcome.errors.append(record_error("INVALID_CROSS_REFERENCE_KEY", message))

    def _lock_rows(self, outcomes: list[DeleteOutcome]) -> None:
        """Step 3: UNABLE_TO_LOCK_ROW, or wrapped in a trigger's error under `lock_wrapped`."""
        candidates = [o for o in outcomes if o.ok]
        locked, wrapped = self.faults.take_locked_rows(len(candidates))
        for outcome in candidates[:locked]:
            if wrapped:
                sobject = str(outcome.sobject)
                error = apex.wrapped_lock_error(sobject, outcome.sf_id, "AfterDelete")
            else:
                error = record_error("UNABLE_TO_LOCK_ROW", LOCKED_ROW)
            outcome.errors.append(error)

    def _refuse(self, outcomes: list[DeleteOutcome]) -> dict[str, Any] | None:
        """Step 4: each still-good record a `delete_fail` rule matches fails with the rule's
        error; return the error of the first chunk-scoped match (None: there was none)."""
        chunk_error = None
        for outcome in outcomes:
            if not outcome.ok:
                continue
            rules = self.rules_of(str(outcome.sobject))
            fields = self.store.fields_of(str(outcome.sf_id))
            rule = next((r for r in rules.delete_fail if r.matches(fields)), None)
            if rule is None:
                continue
            error = record_error(rule.code, rule.message)
            outcome.errors.append(error)
            if rule.scope == "chunk" and chunk_error is None:
                chunk_error = error
        return chunk_error

    def _planned(self, outcome: DeleteOutcome) -> PlannedDelete:
        """The delete of a good outcome, with the external id the write log names it by."""
        sobject, sf_id = str(outcome.sobject), str(outcome.sf_id)
        fields = self.store.fields_of(sf_id)
        known = sorted(self.store.upsert_fields(sobject))
        known += sorted(set(self.rules_of(sobject).external_ids) - set(known))
        for field in known:
            if index_key(fields.get(field)) is not None:
                return PlannedDelete(sobject, sf_id, field, str(fields[field]))
        return PlannedDelete(sobject, sf_id, "Id", sf_id)


def _rolled_back(outcomes: list[DeleteOutcome]) -> list[DeleteOutcome]:
    for outcome in outcomes:
        if outcome.ok:
            outcome.errors.append(
                record_error("ALL_OR_NONE_OPERATION_ROLLED_BACK", errors.ROLLED_BACK)
            )
    return outcomes
