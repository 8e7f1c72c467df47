"""The status page draws a failed run (nothing exported, nothing rejected) in its chart, a
marker in the failed colour with the reason as its tooltip, and its table row says
"failed" with the run's reason instead of a bare count."""

from __future__ import annotations

import re

import pytest

from exports.models import ExportRun
from exports.reporting.chart import FAILED_COLOUR
from tests.factories import CRMSettingsFactory, ExportRunFactory

pytestmark = pytest.mark.django_db

REASON = "Salesforce login for account acme failed: invalid_client: invalid client credentials."


def test_a_failed_run_has_a_marker_and_a_reason(super_client):
    account = CRMSettingsFactory(account__slug="acme").account
    done = ExportRunFactory(account=account, exported=30, attempted=30)
    failed = ExportRunFactory(account=account, outcome=ExportRun.Outcome.FAILED, message=REASON)

    html = super_client.get("/admin/exports/status/acme/").content.decode()

    chart, table = html.split('id="recent-runs"')[1].split("<table>", 1)
    failed_bars = chart.split(f'data-run-id="{failed.id}">', 1)[1].split("</g></g>", 1)[0]
    assert '<g class="failed-run">' in failed_bars
    assert f"<title>run #{failed.id} failed: {REASON}</title>" in failed_bars
    assert re.search(rf'<rect [^>]*height="\d{{2,}}" fill="{FAILED_COLOUR}"', failed_bars)
    assert f'data-run-id="{done.id}">' in chart and chart.count("failed-run") == 1

    failed_row = table.split(f"#{failed.id}</a>", 1)[1].split("</tr>", 1)[0]
    assert f"<strong>failed</strong>: {REASON}" in failed_row
    assert 'class="outcome outcome-failed"' in failed_row
    assert ">Rejected</th>" in table  # records Salesforce rejected, not runs that failed
