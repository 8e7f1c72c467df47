"""Exports › Notifications shows dates in ISO 8601 like the other pages, in its list and on
a notification's own page, and cuts a long last error short with all of it in the title."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import pytest

from exports.models import Notification
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

ERROR = "HTTP 503 from https://hooks.example.com: " + "the receiver is overloaded; " * 6


@pytest.fixture
def notification():
    note = Notification.objects.create(
        account=AccountFactory(slug="acme"),
        event="paused",
        channel="webhook",
        target="https://hooks.example.com",
        payload={"event": "paused"},
        status="sent",
        attempts=2,
        last_error=ERROR,
        sent_at=datetime(2026, 12, 6, 21, 44, 30, tzinfo=UTC),
    )
    Notification.objects.filter(pk=note.pk).update(
        created_at=datetime(2026, 12, 6, 21, 43, 5, tzinfo=UTC)
    )
    return note


def test_the_list_shows_iso_dates_and_a_short_error(super_client, notification):
    page = super_client.get("/admin/exports/notification/").content.decode()

    assert '<span class="day">2026-12-06</span> <span class="time">21:43</span>' in page
    assert '<span class="day">2026-12-06</span> <span class="time">21:44</span>' in page
    assert "Dec. 6, 2026" not in page and "p.m." not in page
    assert f'title="{html.escape(ERROR)}"' in page
    assert f">{html.escape(ERROR)}<" not in page  # cut short in the cell


def test_a_notifications_page_shows_iso_dates(super_client, notification):
    page = super_client.get(f"/admin/exports/notification/{notification.pk}/change/")

    text = page.content.decode()
    assert "2026-12-06 21:43:05 UTC" in text and "2026-12-06 21:44:30 UTC" in text
    assert "Dec. 6, 2026" not in text and "p.m." not in text
