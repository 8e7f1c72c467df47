"""The daily re-export resolves errors and never overwrites newer data."""

from __future__ import annotations

import pytest

from exports.models import ExportError, ExportRun
from exports.run.reexport import reexport_errors
from exports.tasks import reexport_error
from exports.tools.runner import run_and_wait
from tests.conftest import wait_for
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, enqueue

pytestmark = pytest.mark.integration


def contact(ext, **fields):
    return {
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": ext,
        "fields": fields,
    }


def last_write(sandbox, ext):
    return [w for w in sandbox.writes() if w["external_id"] == ext][-1]


def test_reexport_resolves_supersedes_and_keeps_newer_values(sandbox, celery_worker, crm_account):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(pause=False)
    enqueue(
        account,
        [
            contact("p1", LastName="Old", Type__c="Customer"),
            contact("p2", LastName="Two", Type__c="Customer"),
            contact("p3", LastName="Three", Type__c="Customer", Phone="555-0100"),
        ],
    )
    assert run_and_wait(account, timeout=60).failed == 3
    # Newer records of p1 and p3 go through after their failures.
    enqueue(
        account,
        [
            contact("p1", LastName="New", Type__c="Lead"),
            contact("p3", LastName="Newer", Type__c="Lead"),
        ],
    )
    assert run_and_wait(account, timeout=60).exported == 2
    writes_before = len(sandbox.writes())

    sandbox.set_rules({})
    summary = reexport_errors(account.id)

    assert (summary.resolved, summary.superseded, summary.failed) == (2, 1, 0)
    assert summary.api_calls == 1
    status = dict(ExportError.objects.values_list("external_id", "status"))
    assert status == {"p1": "superseded", "p2": "resolved", "p3": "resolved"}
    new_writes = sandbox.writes()[writes_before:]
    assert sorted(w["external_id"] for w in new_writes) == ["p2", "p3"]
    p3 = last_write(sandbox, "p3")["fields"]
    assert p3.get("Phone") == "555-0100" and "LastName" not in p3 and "Type__c" not in p3
    assert last_write(sandbox, "p1")["fields"]["LastName"] == "New"
    assert (
        ExportRun.objects.filter(account=account, trigger="reexport").get().outcome == "completed"
    )


def test_reexport_leaves_rejected_errors_open_with_one_more_attempt(
    sandbox, celery_worker, crm_account
):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(pause=False)
    enqueue(account, [contact("p1", LastName="One", Type__c="Customer")])
    run_and_wait(account, timeout=60)

    summary = reexport_errors()

    assert (summary.resolved, summary.failed) == (0, 1)
    error = ExportError.objects.get()
    assert (error.status, error.attempts) == ("open", 2)


def test_reexport_error_task_resolves_one_error(sandbox, celery_worker, crm_account):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(pause=False)
    enqueue(
        account,
        [
            contact("p1", LastName="One", Type__c="Customer"),
            contact("p2", LastName="Two", Type__c="Customer"),
        ],
    )
    run_and_wait(account, timeout=60)
    sandbox.set_rules({})
    first = ExportError.objects.get(external_id="p1")

    reexport_error.delay(first.id)

    wait_for(lambda: ExportError.objects.get(id=first.id).status == "resolved", timeout=30)
    assert ExportError.objects.get(external_id="p2").status == "open"
