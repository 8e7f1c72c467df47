"""What the org's Apex does to an upsert or a delete: trigger failures (per record or per
chunk), row locks met by triggers, and the CPU time limit of a transaction.

Salesforce runs triggers over chunks of up to 200 records; an unhandled exception in a
trigger fails every record of its chunk with the same CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY
error and writes none of them (Apex Developer Guide, "Bulk DML Exception Handling"). A
chunk here is the records of one sObject Collections request (or Composite subrequest),
which carries at most 200.

`trigger_fail` rules say which records make a trigger throw: scope "record" (the default)
fails only the matching record, scope "chunk" fails the whole chunk holding it.
`delete_fail` rules do the same for deletes (delete.py), with their own code and message.

Row locks that a trigger meets (`faults.lock_wrapped`) arrive wrapped in the trigger's
error, as in real orgs (e.g. salesforce.stackexchange.com/questions/20921):
CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY "ContactTrigger: execution of AfterUpdate\n\ncaused
by: System.DmlException: Update failed. First exception on row 0 with id 003...; first
error: UNABLE_TO_LOCK_ROW, unable to obtain exclusive access to this record or 1 records:
003...: []\n\nTrigger.ContactTrigger: line 1, column 1".

Synchronous Apex may spend `faults.cpu_limit_ms` (10,000 ms) of CPU per transaction: one
sObject Collections request, a single-record upsert or delete, one subrequest of a
Composite without allOrNone, or a whole allOrNone Composite. Each record upserted or
deleted costs its object's `cpu_ms_per_record`; the request (subrequest) that takes the sum past the limit fails,
every record with CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY "ContactTrigger:
System.LimitException: Apex CPU time limit exceeded", and writes nothing (in an allOrNone
Composite the others are then rolled back and halted, as for any failed subrequest).
The time spent (capped at the limit) is answered late by `faults.server_time_scale` times
it, outside every lock (Api._data_request).
"""

from __future__ import annotations

from typing import Any

from sandbox.errors import record_error
from sandbox.ids import make_id
from sandbox.record_rules import TriggerRule
from sandbox.rules import ObjectRules

TRIGGER_FAILED = "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"


class CpuMeter:
    """The Apex CPU time one transaction has used so far, against its limit."""

    __slots__ = ("limit_ms", "used_ms")

    def __init__(self, limit_ms: int) -> None:
        self.limit_ms = limit_ms
        self.used_ms: float = 0

    def charge(self, milliseconds: float) -> bool:
        """Add `milliseconds`; False when the transaction is now past its limit."""
        self.used_ms += milliseconds
        return self.used_ms <= self.limit_ms

    @property
    def spent_ms(self) -> float:
        """Server time the transaction took: what it used, at most the limit."""
        return min(self.used_ms, self.limit_ms)


def cpu_limit_error(sobject: str) -> dict[str, Any]:
    return record_error(
        TRIGGER_FAILED,
        f"{_trigger_name(sobject)}: System.LimitException: Apex CPU time limit exceeded",
    )


def fired_trigger(rules: ObjectRules, merged: dict[str, Any]) -> TriggerRule | None:
    """The first `trigger_fail` rule that matches the record as it would be written."""
    for rule in rules.trigger_fail:
        if rule.when is None or rule.when.matches(merged):
            return rule
    return None


def trigger_error(rule: TriggerRule) -> dict[str, Any]:
    """The record error of a trigger that threw: the rule's message, with a `caused by`."""
    message = rule.message
    if "caused by" not in message:
        message += "\n\ncaused by: System.DmlException: rejected by the sandbox's trigger_fail rule"
    return record_error(TRIGGER_FAILED, message)


def fail_all(outcomes: list[Any], error: dict[str, Any]) -> list[Any]:
    """Every record gets `error` as its only error (a failed chunk or transaction)."""
    for outcome in outcomes:
        outcome.errors[:] = [error]
    return outcomes


def wrapped_lock_error(sobject: str, sf_id: str | None, event: str = "") -> dict[str, Any]:
    """UNABLE_TO_LOCK_ROW met by `<sobject>Trigger` in `event` (default: AfterUpdate, or
    AfterInsert for a create), for the record `sf_id` (None: a create, which names a record
    of the same object the trigger would have updated)."""
    locked = sf_id or make_id(sobject, 0)
    event = event or ("AfterUpdate" if sf_id else "AfterInsert")
    trigger = _trigger_name(sobject)
    message = (
        f"{trigger}: execution of {event}\n\ncaused by: System.DmlException: Update failed."
        f" First exception on row 0 with id {locked}; first error: UNABLE_TO_LOCK_ROW,"
        f" unable to obtain exclusive access to this record or 1 records: {locked}: []"
        f"\n\nTrigger.{trigger}: line 1, column 1"
    )
    return record_error(TRIGGER_FAILED, message)


def _trigger_name(sobject: str) -> str:
    """Contact -> ContactTrigger, Invoice__c -> InvoiceTrigger (a common naming habit)."""
    return f"{sobject.removesuffix('__c')}Trigger"
