"""An export error's own page is titled by the error and has "Re-export now" and "Dismiss"
while it is open, for staff with the change permission (the list's actions, for one)."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from exports.models import ExportError
from tests.factories import CRMSettingsFactory, ExportErrorFactory, ExportRecordFactory

pytestmark = pytest.mark.django_db


def page_of(error: ExportError) -> str:
    return f"/admin/exports/exporterror/{error.pk}/change/"


@pytest.fixture
def error() -> ExportError:
    account = CRMSettingsFactory(export_enabled=True).account
    return ExportErrorFactory(record=ExportRecordFactory(account=account))


def test_an_open_error_is_titled_by_itself_with_both_buttons(super_client, error):
    html = super_client.get(page_of(error)).content.decode()

    assert (
        f"<h1>Export error: FIELD_CUSTOM_VALIDATION_EXCEPTION on record #{error.record_id}</h1>"
        in html
    )
    assert "Change export error" not in html
    assert f'formaction="/admin/exports/exporterror/{error.pk}/reexport/"' in html
    assert f'formaction="/admin/exports/exporterror/{error.pk}/dismiss/"' in html


def test_no_buttons_for_view_only_staff_or_an_error_that_is_not_open(viewer_client, super_client):
    open_error = ExportErrorFactory()
    resolved = ExportErrorFactory(status=ExportError.Status.RESOLVED)

    assert 'id="error-actions"' not in viewer_client.get(page_of(open_error)).content.decode()
    assert 'id="error-actions"' not in super_client.get(page_of(resolved)).content.decode()
    dismiss = f"/admin/exports/exporterror/{open_error.pk}/dismiss/"
    assert viewer_client.post(dismiss).status_code == 403
    open_error.refresh_from_db()
    assert open_error.status == ExportError.Status.OPEN


def test_reexport_button_queues_the_task(super_client, error, published_tasks):
    response = super_client.post(f"/admin/exports/exporterror/{error.pk}/reexport/", follow=True)

    assert response.redirect_chain[-1][0] == page_of(error)
    assert published_tasks.tasks == [("exports.tasks.reexport_error", [error.pk], {})]
    assert "Queued a re-export of 1 error(s)" in response.content.decode()


def test_dismiss_button_dismisses_and_records_who(super_client, superuser, error):
    response = super_client.post(f"/admin/exports/exporterror/{error.pk}/dismiss/", follow=True)

    error.refresh_from_db()
    assert error.status == ExportError.Status.DISMISSED
    assert "Dismissed 1 open or given-up error(s)." in response.content.decode()
    entry = LogEntry.objects.get(object_id=str(error.pk))
    assert (entry.user, entry.change_message) == (superuser, "Dismissed.")
    assert super_client.get(f"/admin/exports/exporterror/{error.pk}/dismiss/").status_code == 405
