"""The export status page of an account: state, paused record and error, backlog, runs."""

from __future__ import annotations

import pytest

from tests.admin.conftest import pause_at
from tests.factories import (
    CRMSettingsFactory,
    ExportErrorFactory,
    ExportRecordFactory,
    ExportRunFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def paused(db):
    settings = CRMSettingsFactory(account__slug="acme", account__name="Acme")
    account = settings.account
    done = ExportRecordFactory(account=account)
    record = ExportRecordFactory(account=account, external_id="person-437")
    ExportRecordFactory(account=account)
    error = ExportErrorFactory(record=record)
    pause_at(record, error, last_exported=done)
    runs = [
        ExportRunFactory(account=account, exported=436, failed=0),
        ExportRunFactory(account=account, exported=0, failed=1, outcome="paused"),
    ]
    return account, record, error, runs


def test_shows_where_and_why_the_export_is_paused(super_client, paused):
    account, record, error, _ = paused

    html = super_client.get(f"/admin/exports/status/{account.slug}/").content.decode()

    assert 'id="state-badge">paused<' in html
    assert f'href="/admin/exports/exportrecord/{record.id}/change/">#{record.id}</a>' in html
    assert "(person-437)" in html and "since 2025-03-01 12:30:00 UTC" in html
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION</strong>: Customers need an email" in html
    assert f'href="/admin/exports/exporterror/{error.id}/change/" id="paused-error-link"' in html
    assert 'id="backlog">2<' in html
    assert "Open errors: 1" in html
    assert "error_code=FIELD_CUSTOM_VALIDATION_EXCEPTION" in html
    assert 'id="resume-export"' in html and 'id="run-export-now"' in html


def test_shows_the_last_runs_with_a_chart(super_client, paused):
    account, _, _, runs = paused

    html = super_client.get(f"/admin/exports/status/{account.slug}/").content.decode()

    assert html.count('<g class="run"') == 2
    assert f"<title>run #{runs[0].id}: 436 exported</title>" in html
    assert f"<title>run #{runs[1].id}: 1 rejected</title>" in html
    assert f'href="/admin/exports/exportrun/{runs[1].id}/change/">#{runs[1].id}</a>' in html
    assert "<script" not in html.split('class="runs-chart"')[1].split("</svg>")[0]


def test_idle_account_has_no_resume_button(super_client):
    settings = CRMSettingsFactory()

    html = super_client.get(f"/admin/exports/status/{settings.account.slug}/").content.decode()

    assert 'id="state-badge">idle<' in html
    assert 'id="resume-export"' not in html and 'id="run-export-now"' in html
    assert "No runs yet." in html


def test_run_now_is_refused_while_export_to_crm_is_off(super_client, published_tasks):
    settings = CRMSettingsFactory(export_enabled=False)

    response = super_client.post(f"/admin/exports/status/{settings.account.slug}/run/", follow=True)

    assert "No run started: Export to CRM is off" in response.content.decode()
    assert published_tasks.tasks == []


def test_run_now_needs_post(super_client, paused):
    account = paused[0]

    assert super_client.get(f"/admin/exports/status/{account.slug}/run/").status_code == 405


def test_index_lists_every_account_with_its_state(super_client, paused):
    CRMSettingsFactory(account__slug="globex")

    html = super_client.get("/admin/exports/status/").content.decode()

    assert 'href="/admin/exports/status/acme/"' in html
    assert 'href="/admin/exports/status/globex/"' in html
    assert "paused" in html
