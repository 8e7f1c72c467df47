"""The status page's chart and its runs table list the runs in one order: newest first."""

from __future__ import annotations

import re

import pytest

from tests.factories import CRMSettingsFactory, ExportRunFactory

pytestmark = pytest.mark.django_db


def test_chart_bars_and_table_rows_run_newest_first(super_client):
    account = CRMSettingsFactory(account__slug="acme").account
    runs = [ExportRunFactory(account=account, exported=n) for n in (5, 50, 500)]

    html = super_client.get("/admin/exports/status/acme/").content.decode()

    chart, table = html.split('id="recent-runs"')[1].split("<table>", 1)
    bars = [int(i) for i in re.findall(r'<g class="run" data-run-id="(\d+)"', chart)]
    rows = [int(i) for i in re.findall(r'/admin/exports/exportrun/(\d+)/change/">#', table)]
    newest_first = [run.id for run in reversed(runs)]
    assert bars == rows == newest_first
    assert "newest first" in chart
