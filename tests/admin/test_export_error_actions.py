"""Export error actions that need no worker: Dismiss and Download CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.admin.models import LogEntry

from exports.models import ExportError
from tests.admin.conftest import SECRETS
from tests.factories import CRMSettingsFactory, ExportErrorFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/exports/exporterror/"


def run_action(client, action: str, errors: list[ExportError]):
    return client.post(LIST, {"action": action, "_selected_action": [e.pk for e in errors]})


def test_dismiss_closes_open_errors_and_records_who(super_client, superuser):
    open_error = ExportErrorFactory()
    resolved = ExportErrorFactory(status=ExportError.Status.RESOLVED)

    response = run_action(super_client, "dismiss", [open_error, resolved])

    assert response.status_code == 302
    open_error.refresh_from_db()
    resolved.refresh_from_db()
    assert open_error.status == ExportError.Status.DISMISSED
    assert resolved.status == ExportError.Status.RESOLVED
    entry = LogEntry.objects.get(object_id=str(open_error.pk))
    assert (entry.user, entry.change_message) == (superuser, "Dismissed.")


def test_reexport_of_errors_that_are_not_open_publishes_nothing(super_client, published_tasks):
    resolved = ExportErrorFactory(status=ExportError.Status.RESOLVED)

    response = run_action(super_client, "reexport_now", [resolved])

    assert response.status_code == 302
    assert published_tasks.tasks == []
    messages = [m.message for m in response.wsgi_request._messages]
    assert (
        "Skipped 1 that are neither open nor given up, or whose account has Export to CRM off."
        in messages[0]
    )


def test_reexport_for_an_account_with_export_off_publishes_nothing(super_client, published_tasks):
    settings = CRMSettingsFactory(export_enabled=False)
    error = ExportErrorFactory(record__account=settings.account)

    run_action(super_client, "reexport_now", [error])

    assert published_tasks.tasks == []


def test_download_csv_lists_the_selected_errors_without_secrets(super_client):
    settings = CRMSettingsFactory(client_secret=SECRETS[0], password=SECRETS[2])
    error = ExportErrorFactory(
        record__account=settings.account, record__external_id="person-9", message="=cmd|x"
    )

    response = run_action(super_client, "download_csv", [error])

    assert response["Content-Type"].startswith("text/csv")
    body = response.content.decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 1
    row = rows[0]
    assert (row["error_id"], row["account"], row["record_id"]) == (
        str(error.pk),
        settings.account.slug,
        str(error.record_id),
    )
    assert (row["external_id"], row["error_code"], row["status"]) == (
        "person-9",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "open",
    )
    assert row["message"] == "'=cmd|x"  # never a spreadsheet formula
    assert not any(secret in body for secret in SECRETS)


def test_view_only_staff_can_download_csv(viewer_client):
    error = ExportErrorFactory()

    response = run_action(viewer_client, "download_csv", [error])

    assert response["Content-Type"].startswith("text/csv")
    assert str(error.record_id) in response.content.decode()
