"""In a real browser at 1280 px: Exports › Notifications shows every column without a
sideways scroll, dates in ISO 8601 like the other pages ("2026-12-06 21:43"), a long last
error cut short with the full text in its title (screenshot:
var/test-artifacts/notifications-1280.png)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from exports.models import Notification
from tests.admin.conftest import log_in, screenshot
from tests.factories import CRMSettingsFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COLUMNS = [
    "Created",
    "Account",
    "Event",
    "Channel",
    "Sent to",
    "Status",
    "Attempts",
    "Sent",
    "Last error",
]
LONG_ERROR = (
    "The webhook at https://hooks.acme-industries.example.com:8443 answered HTTP 503 "
    "Service Unavailable after 9.8 s (attempt 5 of 8); the next attempt is in 10 minutes. "
    "The receiver's operators may want to look at their load balancer."
)
CREATED = datetime(2026, 12, 6, 21, 43, 5, tzinfo=UTC)
SENT = datetime(2026, 12, 6, 21, 44, 30, tzinfo=UTC)


def notifications_of_a_busy_account() -> None:
    account = CRMSettingsFactory(
        account__slug="acme-industries", account__name="Acme Industries"
    ).account
    rows = [
        ("email", "ops@acme-industries.example.com, oncall@acme-industries.example.com", "sent"),
        ("webhook", "https://hooks.acme-industries.example.com:8443", "retrying"),
        ("webhook", "https://hooks.acme-industries.example.com:8443", "failed"),
    ]
    for channel, target, status in rows:
        note = Notification.objects.create(
            account=account,
            event="still_paused",
            channel=channel,
            target=target,
            payload={"event": "still_paused"},
            status=status,
            attempts=1 if status == "sent" else 5,
            last_error="" if status == "sent" else LONG_ERROR,
            sent_at=SENT if status == "sent" else None,
        )
        Notification.objects.filter(pk=note.pk).update(created_at=CREATED)


def test_every_column_fits_with_iso_dates(page, superuser):
    notifications_of_a_busy_account()
    log_in(page, superuser.username)

    page.goto("/admin/exports/notification/")

    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    overflow = page.locator("#changelist .results").evaluate(
        "el => el.scrollWidth - el.clientWidth"
    )
    page_overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    screenshot(page, "notifications-1280")
    assert overflow <= 0, f"the list scrolls sideways by {overflow} px"
    assert page_overflow <= 0, f"the page scrolls sideways by {page_overflow} px"
    for name in COLUMNS:
        header = page.locator(f'#result_list thead th .text :text-is("{name}")')
        expect(header).to_be_in_viewport()

    table = page.locator("#result_list").inner_text()
    assert "2026-12-06 21:43" in table and "2026-12-06 21:44" in table
    assert not re.search(r"[ap]\.m\.|Dec\.", table), "dates must be ISO 8601"
    # The rows share their creation time, so their order is the database's: take a failed one.
    cell = page.locator("#result_list tbody td.field-short_error span").first
    assert cell.get_attribute("title") == LONG_ERROR
    shown = cell.inner_text()
    assert shown.endswith("…") and len(shown) < len(LONG_ERROR)
