"""One record can be replayed on its own, showing the exchange without any secret."""

from __future__ import annotations

from typing import Any

from salesforce.client import Gateway
from tests.salesforce.conftest import shared_token


def test_replay_creates_then_updates_and_shows_the_exchange(gateway: Gateway) -> None:
    lines: list[str] = []

    first = gateway.upsert_one(
        "Contact",
        "ExtId__c",
        "x/1",
        {"ExtId__c": "x/1", "LastName": "Ada"},
        verbose_log=lines.append,
    )
    second = gateway.upsert_one("Contact", "ExtId__c", "x/1", {"LastName": "Ada L."})

    assert first.ok and first.created is True
    assert second.ok and second.created is False and second.sf_id == first.sf_id
    shown = "\n".join(lines)
    assert "PATCH" in shown and "/sobjects/Contact/ExtId__c/x%2F1" in shown
    assert '"LastName": "Ada"' in shown and "< HTTP 201" in shown
    assert "Bearer [redacted]" in shown
    assert "login; form and answer not shown" in shown
    token = shared_token(gateway)
    assert "s3cret" not in shown
    assert token not in shown


def test_replay_of_a_refused_record_is_a_result(gateway: Gateway, sandbox: Any) -> None:
    lines: list[str] = []

    result = gateway.upsert_one(
        "Contact", "ExtId__c", "x-2", {"Email": "no-name@example.com"}, verbose_log=lines.append
    )

    assert not result.ok
    assert result.error_code == "REQUIRED_FIELD_MISSING"
    assert "LastName" in result.fields
    assert "< HTTP 400" in "\n".join(lines)
