"""With pause off, a run rejecting more than the account's share of its records is an error
spike, told once; a clean run afterwards ends it."""

from __future__ import annotations

import pytest

from exports.models import Notification
from exports.tools.runner import run_and_wait
from tests.conftest import wait_for
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue

pytestmark = pytest.mark.integration


def events(account) -> list[str]:
    return list(
        Notification.objects.filter(account=account)
        .order_by("created_at")
        .values_list("event", flat=True)
    )


def test_a_spike_is_told_once_and_its_end_once(
    sandbox, celery_worker, crm_account, alerts_to_receiver
):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(pause=False, alert_emails="ops@example.com", error_spike_percent=10)
    customers = {f"person-{i}": {"Type__c": "Customer"} for i in range(1, 31, 3)}  # 10 of 30

    enqueue(account, contacts(30, **customers))
    assert run_and_wait(account, timeout=60).failed == 10
    enqueue(
        account,
        contacts(
            30, start=31, **{f"person-{i}": {"Type__c": "Customer"} for i in range(31, 61, 3)}
        ),
    )
    assert run_and_wait(account, timeout=60).failed == 10  # still spiking: not told again
    wait_for(lambda: events(account) == ["error_spike"], what="the error_spike alert")

    sandbox.set_rules({})
    enqueue(account, contacts(30, start=61))
    assert run_and_wait(account, timeout=60).failed == 0
    wait_for(lambda: events(account) == ["error_spike", "error_spike_over"], what="its end")

    spike = Notification.objects.get(account=account, event="error_spike").payload
    assert (spike["run_failed"], spike["run_attempted"]) == (10, 30)
