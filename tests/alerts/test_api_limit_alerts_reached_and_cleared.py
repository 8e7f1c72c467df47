"""A run that stops near the daily API limit is told once (api_limit_reached); the first run
that calls Salesforce again without stopping there is told too (api_limit_cleared)."""

from __future__ import annotations

import pytest

from exports.models import Notification
from exports.tools.runner import run_and_wait
from tests.conftest import wait_for
from tests.pipeline_fixtures import contacts, enqueue

pytestmark = pytest.mark.integration


def events(account) -> list[str]:
    rows = Notification.objects.filter(account=account).order_by("created_at")
    return list(rows.values_list("event", flat=True))


def test_limit_reached_then_cleared(
    sandbox, celery_worker, crm_account, alerts_to_receiver, settings
):
    settings.CRMSYNC_LINK_SECONDS = 0  # one call per link: the quota is checked after each
    account = crm_account(alert_emails="ops@example.com", batch_size=10)
    sandbox.set_faults(api_daily_limit=10)  # runs stop at 90 %: after the 9th call, the 10th
    enqueue(account, contacts(1000))

    for _ in range(2):
        run = run_and_wait(account, timeout=60)
        assert run.outcome == "completed" and "daily API limit" in run.message
    wait_for(lambda: events(account) == ["api_limit_reached"], what="api_limit_reached")

    sandbox.set_faults(api_daily_limit=100_000)
    assert "daily API limit" not in run_and_wait(account, timeout=60).message
    wait_for(lambda: events(account) == ["api_limit_reached", "api_limit_cleared"], what="cleared")
    reached = Notification.objects.get(account=account, event="api_limit_reached")
    assert "Stopped near the daily API limit" in reached.payload["message"]
