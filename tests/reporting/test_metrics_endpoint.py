"""`/metrics`: Prometheus text format from the database, the same few queries for 1 or 200
accounts, and counters that survive pruning. Who may read it:
tests/security/test_metrics_closed_by_default.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from exports import retention
from exports.models import ExportCursor, ExportRecord, ExportRun
from exports.reporting import run_totals
from tests.factories import (
    AccountFactory,
    ExportErrorFactory,
    ExportRecordFactory,
    ExportRunFactory,
)

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-token"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.CRMSYNC_METRICS_TOKEN = TOKEN


def scrape(client: Client | None = None) -> tuple[int, str]:
    response = (client or Client()).get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )
    return response.status_code, response.content.decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}, through Prometheus' own parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def account_with_a_pause(slug: str):
    """5 records; 2 exported; paused at the 3rd (an hour ago) with its open error."""
    account = AccountFactory(slug=slug)
    records = ExportRecordFactory.create_batch(5, account=account)
    ExportRecord.objects.filter(id=records[2].id).update(
        created_at=timezone.now() - timedelta(hours=2)
    )
    error = ExportErrorFactory(record=records[2])
    ExportErrorFactory(record=records[1], error_code="REQUIRED_FIELD_MISSING")
    ExportCursor.objects.create(
        account=account,
        state="paused",
        last_exported_id=records[1].id,
        paused_record=records[2],
        paused_since=timezone.now() - timedelta(hours=1),
        last_error_code=error.error_code,
    )
    ExportRunFactory(account=account, outcome="paused", exported=2, failed=1, api_calls=2)
    ExportRunFactory(account=account, outcome="completed", exported=10, api_calls=3)
    return account


def test_the_metrics_parse_and_say_where_each_account_stands():
    account_with_a_pause("acme")

    status, text = scrape()

    assert status == 200
    values = samples(text)
    acme = (("account", "acme"),)
    assert values[("crmsync_backlog_records", acme)] == 3
    assert 7000 < values[("crmsync_export_lag_seconds", acme)] < 7300
    assert values[("crmsync_paused", acme)] == 1
    since = values[("crmsync_paused_since_timestamp_seconds", acme)]
    assert abs(since - (timezone.now() - timedelta(hours=1)).timestamp()) < 60
    assert (
        values[
            (
                "crmsync_open_export_errors",
                (("account", "acme"), ("code", "FIELD_CUSTOM_VALIDATION_EXCEPTION")),
            )
        ]
        == 1
    )
    assert (
        values[
            (
                "crmsync_open_export_errors",
                (("account", "acme"), ("code", "REQUIRED_FIELD_MISSING")),
            )
        ]
        == 1
    )
    assert values[("crmsync_export_runs_total", (("account", "acme"), ("outcome", "paused")))] == 1
    assert values[("crmsync_records_exported_total", acme)] == 12
    assert values[("crmsync_api_calls_total", acme)] == 5
    assert values[("crmsync_api_calls_24h", acme)] == 5
    assert values[("crmsync_api_daily_limit", acme)] == 100_000


def test_a_scrape_costs_the_same_queries_for_1_and_200_accounts():
    account_with_a_pause("first")
    with CaptureQueriesContext(connection) as one:
        scrape()
    for n in range(199):
        account_with_a_pause(f"acct-{n}")
    with CaptureQueriesContext(connection) as many:
        status, text = scrape()

    assert status == 200
    assert len(one.captured_queries) == len(many.captured_queries) <= 8
    assert sum(1 for s in samples(text) if s[0] == "crmsync_paused") == 200


def test_counters_do_not_go_down_when_old_runs_are_pruned(settings):
    account = account_with_a_pause("acme")
    old = timezone.now() - timedelta(days=200)
    ExportRun.objects.filter(account=account).update(started_at=old, finished_at=old)
    before = samples(scrape()[1])

    run_totals.roll_up()
    pruned = retention.prune()
    after = samples(scrape()[1])

    assert pruned.runs == 2 and not ExportRun.objects.exists()
    counters = {k: v for k, v in before.items() if k[0].endswith("_total")}
    assert counters and all(after[k] == v for k, v in counters.items())
