"""Every run and every call (up to 5 batches) leaves one key=value log line (docs/operations.md › Logs):

export.batch account=SLUG run=ID after=N sent=N written=N rejected=N retry=N api_calls=N cursor=N
export.run account=SLUG run=ID trigger=T outcome=O attempted=N exported=N failed=N api_calls=N first=N last=N
"""

from __future__ import annotations

import logging

import pytest

from exports.models import ExportRun
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue

pytestmark = pytest.mark.integration


def fields(message: str) -> dict[str, str]:
    """The key=value pairs of a log line."""
    return dict(word.split("=", 1) for word in message.split()[1:])


def lines(caplog: pytest.LogCaptureFixture, kind: str, run_id: int) -> list[dict[str, str]]:
    found = [fields(r.getMessage()) for r in caplog.records if r.getMessage().split()[0] == kind]
    return [f for f in found if f["run"] == str(run_id)]


def test_one_line_per_call_and_one_per_run(caplog, sandbox, celery_worker, crm_account):
    caplog.set_level(logging.INFO, logger="exports.pipeline")
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(pause=False, batch_size=5)  # calls of 5 batches of 5
    ids = enqueue(account, contacts(55, **{"person-53": {"Type__c": "Customer"}}))

    run = run_and_wait(account, ExportRun.Trigger.MANUAL, timeout=60)

    batches = lines(caplog, "export.batch", run.id)
    assert [(b["sent"], b["written"], b["rejected"]) for b in batches] == [
        ("25", "25", "0"),
        ("25", "25", "0"),
        ("5", "4", "1"),
    ]
    assert {b["account"] for b in batches} == {"acme"}
    assert [b["cursor"] for b in batches] == [str(ids[24]), str(ids[49]), str(ids[54])]
    (summary,) = lines(caplog, "export.run", run.id)
    assert summary == {
        "account": "acme",
        "run": str(run.id),
        "trigger": "manual",
        "outcome": "completed",
        "attempted": "55",
        "exported": "54",
        "failed": "1",
        "api_calls": str(run.api_calls),
        "first": str(ids[0]),
        "last": str(ids[-1]),
    }
