"""A key with a story, made by real exports through the sandbox org and a worker: written,
rejected by a validation rule, fixed and written again (pause off), the rejected version's
error superseded by the daily re-export."""

from __future__ import annotations

from typing import Any

from accounts.models import Account
from exports.models import ExportRun
from exports.run.reexport import reexport_errors
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, enqueue

EXTERNAL_ID = "person-7"


def contact(**fields: Any) -> dict[str, Any]:
    return {
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": EXTERNAL_ID,
        "fields": {"LastName": "Lee", **fields},
    }


def export(account: Account, item: dict[str, Any]) -> int:
    """Enqueue one record and run the export until done; the record's id."""
    [record_id] = enqueue(account, [item])
    assert run_and_wait(account, timeout=60).outcome == ExportRun.Outcome.COMPLETED
    return record_id


def written_rejected_fixed_and_written_again(sandbox: Any, account: Account) -> list[int]:
    """The three versions' record ids: written, rejected (open error), written again."""
    first = export(account, contact(Type__c="Lead"))
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    rejected = export(account, contact(Type__c="Customer"))
    fixed = export(account, contact(Type__c="Customer", Email="lee@example.com"))
    return [first, rejected, fixed]


def with_superseded_error(sandbox: Any, account: Account) -> list[int]:
    """The same, then the daily re-export: the rejected version's error is superseded."""
    ids = written_rejected_fixed_and_written_again(sandbox, account)
    reexport_errors(account.id)
    return ids
