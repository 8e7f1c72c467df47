"""The export status pages show FAILING while an account's last run failed, with the reason."""

from __future__ import annotations

import pytest

from exports.models import ExportCursor, ExportRun
from tests.factories import (
    CRMSettingsFactory,
    ExportCursorFactory,
    ExportRecordFactory,
    ExportRunFactory,
)

pytestmark = pytest.mark.django_db

REASON = "Salesforce at https://127.0.0.1:8443 refused the connection 7 times"


@pytest.fixture
def failing():
    account = CRMSettingsFactory(account__slug="acme", account__name="Acme").account
    done = ExportRecordFactory(account=account)
    ExportRecordFactory.create_batch(2, account=account)
    ExportCursorFactory(account=account, last_exported_id=done.id)
    ExportRunFactory(account=account)
    run = ExportRunFactory(account=account, outcome=ExportRun.Outcome.FAILED, message=REASON)
    return account, done, run


def test_status_page_says_failing_and_why(super_client, failing):
    account, done, run = failing

    html = super_client.get(f"/admin/exports/status/{account.slug}/").content.decode()

    assert 'id="state-badge">failing<' in html
    assert f'href="/admin/exports/exportrun/{run.id}/change/">#{run.id}</a>' in html
    assert f'<p id="last-run-message">{REASON}</p>' in html
    assert "Once the cause is fixed, the scheduled runs go on by themselves" in html


def test_index_says_failing(super_client, failing):
    CRMSettingsFactory(account__slug="globex")

    html = super_client.get("/admin/exports/status/").content.decode()

    assert '<td class="state-failing">failing</td>' in html
    assert '<td class="state-idle">idle</td>' in html  # globex: no runs


def test_a_later_run_that_went_through_clears_it(super_client, failing):
    account = failing[0]
    ExportRunFactory(account=account)

    html = super_client.get(f"/admin/exports/status/{account.slug}/").content.decode()

    assert 'id="state-badge">idle<' in html
    assert ">failing<" not in html and 'id="last-run-message"' not in html
    assert 'id="last-run">Last run' in html


def test_a_paused_account_whose_last_run_failed_shows_both(super_client, failing):
    account, done, _ = failing
    cursor = ExportCursor.objects.get(account=account)
    cursor.state, cursor.paused_record_id = ExportCursor.State.PAUSED, done.id + 1
    cursor.save()

    html = super_client.get(f"/admin/exports/status/{account.slug}/").content.decode()

    assert 'id="state-badge">paused<' in html
    assert 'id="failing-badge">failing<' in html
