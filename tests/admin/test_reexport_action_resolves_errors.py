""" "Re-export now" on open errors: the worker re-exports them and they become resolved."""

from __future__ import annotations

import pytest

from exports.models import ExportError
from tests.conftest import wait_for
from tests.factories import ExportErrorFactory, ExportRecordFactory

pytestmark = pytest.mark.integration


def test_reexport_now_resolves_an_error_whose_record_now_passes(
    super_client, crm_account, sandbox, celery_worker
):
    account = crm_account()
    record = ExportRecordFactory(account=account, external_id="person-1")
    error = ExportErrorFactory(record=record)

    response = super_client.post(
        "/admin/exports/exporterror/",
        {"action": "reexport_now", "_selected_action": [error.pk]},
        follow=True,
    )

    assert "Queued a re-export of 1 error(s)" in response.content.decode()

    def resolved() -> bool:
        error.refresh_from_db()
        return error.status == ExportError.Status.RESOLVED

    wait_for(resolved, timeout=30)
    assert [w["external_id"] for w in sandbox.writes()] == ["person-1"]
