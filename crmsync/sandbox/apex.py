"""What the org's Apex does to an upsert: trigger failures, per record or per chunk.

Salesforce runs triggers over chunks of up to 200 records; an unhandled exception in a
trigger fails every record of its chunk with the same CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY
error and writes none of them (Apex Developer Guide, "Bulk DML Exception Handling"). A
chunk here is the records of one sObject Collections request (or Composite subrequest),
which carries at most 200.

`trigger_fail` rules say which records make a trigger throw: scope "record" (the default)
fails only the matching record, scope "chunk" fails the whole chunk holding it.
"""

from __future__ import annotations

from typing import Any

from crmsync.sandbox.errors import record_error
from crmsync.sandbox.rules import ObjectRules, TriggerRule

TRIGGER_FAILED = "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"


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
