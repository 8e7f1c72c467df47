""" "Run export now" on the status page starts a manual run that a worker carries out."""

from __future__ import annotations

import pytest

from exports.models import ExportCursor, ExportRun
from tests.conftest import wait_for
from tests.pipeline_fixtures import contacts, enqueue

pytestmark = pytest.mark.integration


def test_run_export_now_exports_the_backlog(super_client, crm_account, celery_worker):
    account = crm_account()
    ids = enqueue(account, contacts(5))

    response = super_client.post(f"/admin/exports/status/{account.slug}/run/", follow=True)

    assert "queued" in response.content.decode()

    def finished_manual_run() -> ExportRun | None:
        return ExportRun.objects.filter(
            account=account, trigger=ExportRun.Trigger.MANUAL, finished_at__isnull=False
        ).first()

    run = wait_for(finished_manual_run, timeout=30)
    assert run.outcome == ExportRun.Outcome.COMPLETED
    assert ExportCursor.objects.get(account=account).last_exported_id == ids[-1]
