"""Where the org's external id field ignores case (real orgs' default), "ABC" and "abc" are
one Salesforce record: they never travel in one call (the org would refuse both as
DUPLICATE_VALUE) and the newer one's values win, in order."""

from __future__ import annotations

import pytest

from exports.models import ExportError, ExportRun
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import contacts, enqueue

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("pause", [True, False], ids=["pause on", "pause off"])
def test_abc_then_abc_lowercase_end_as_one_record_with_the_newer_values(
    sandbox, celery_worker, crm_account, pause
):
    account = crm_account(pause=pause)
    items = contacts(3)
    items[0] = {**items[0], "external_id": "ABC", "fields": {"LastName": "Older"}}
    items.append({**items[0], "external_id": "abc", "fields": {"LastName": "Newer"}})
    enqueue(account, items)

    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)

    assert (run.outcome, run.exported, run.failed) == ("completed", 4, 0)
    assert not ExportError.objects.exists()
    sf = sandbox.salesforce()
    found = sf.query("SELECT LastName, ExtId__c FROM Contact WHERE ExtId__c = 'abc'")["records"]
    assert [r["LastName"] for r in found] == ["Newer"]
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 3
