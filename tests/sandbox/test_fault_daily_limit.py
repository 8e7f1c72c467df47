"""`api_daily_limit`: calls above it answer 403 REQUEST_LIMIT_EXCEEDED; usage is reported."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceRefusedRequest


def test_calls_above_the_daily_limit_are_refused(sandbox):
    sandbox.set_faults(api_daily_limit=2)
    sf = sandbox.salesforce()

    sf.query("SELECT Id FROM Contact")
    sf.query("SELECT Id FROM Contact")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Contact")

    assert caught.value.status == 403
    assert caught.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]


def test_usage_is_reported_in_sforce_limit_info_and_limits(sandbox):
    sandbox.set_faults(api_daily_limit=50)
    sf = sandbox.salesforce()

    sf.query("SELECT Id FROM Contact")
    sf.query("SELECT Id FROM Contact")

    assert sf.api_usage["api-usage"].used == 2
    assert sf.api_usage["api-usage"].total == 50
    assert sf.limits()["DailyApiRequests"] == {"Max": 50, "Remaining": 48}
