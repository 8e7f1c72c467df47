"""Errors the daily job gave up on stay in the admin: the status filter shows "given up", and
the re-export and dismissal (list actions, the error page's buttons) take them as they take
open ones."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from exports.models import ExportError, RecordOutcome
from tests.conftest import wait_for
from tests.factories import CRMSettingsFactory, ExportErrorFactory, ExportRecordFactory

LIST = "/admin/exports/exporterror/"
GIVEN_UP = ExportError.Status.GIVEN_UP


def given_up_error(account=None) -> ExportError:
    account = account or CRMSettingsFactory(export_enabled=True).account
    record = ExportRecordFactory(account=account, external_id="person-1")
    return ExportErrorFactory(record=record, status=GIVEN_UP)


@pytest.mark.django_db
def test_the_list_filters_and_shows_given_up_errors(super_client):
    error = given_up_error()
    ExportErrorFactory(status=ExportError.Status.OPEN)

    page = super_client.get(LIST).content.decode()
    filtered = super_client.get(f"{LIST}?status__exact=given_up").content.decode()

    assert 'href="?status__exact=given_up"' in page and ">given up</a>" in page
    assert filtered.count('name="_selected_action"') == 1
    assert f'value="{error.pk}"' in filtered


@pytest.mark.django_db
def test_the_reexport_action_queues_given_up_errors(super_client, published_tasks):
    error = given_up_error()

    response = super_client.post(
        LIST, {"action": "reexport_now", "_selected_action": [error.pk]}, follow=True
    )

    assert published_tasks.tasks == [("exports.tasks.reexport_error", [error.pk], {})]
    assert "Queued a re-export of 1 error(s)" in response.content.decode()


@pytest.mark.django_db
def test_the_dismiss_action_and_button_dismiss_given_up_errors(super_client, superuser):
    by_action, by_button = given_up_error(), given_up_error()

    super_client.post(LIST, {"action": "dismiss", "_selected_action": [by_action.pk]})
    response = super_client.post(f"{LIST}{by_button.pk}/dismiss/", follow=True)

    for error in (by_action, by_button):
        error.refresh_from_db()
        assert error.status == ExportError.Status.DISMISSED
        entry = LogEntry.objects.get(object_id=str(error.pk))
        assert (entry.user, entry.change_message) == (superuser, "Dismissed.")
        result = RecordOutcome.objects.get(record_id=error.record_id)
        assert (result.outcome, result.message) == ("dismissed", "by root")  # in its story
    assert "Dismissed 1 open or given-up error(s)." in response.content.decode()


@pytest.mark.django_db
def test_a_given_up_errors_page_has_its_buttons(super_client, viewer_client):
    error = given_up_error()

    page = super_client.get(f"{LIST}{error.pk}/change/").content.decode()

    assert f'formaction="{LIST}{error.pk}/reexport/"' in page
    assert f'formaction="{LIST}{error.pk}/dismiss/"' in page
    assert (
        'id="error-actions"' not in viewer_client.get(f"{LIST}{error.pk}/change/").content.decode()
    )


@pytest.mark.integration
def test_the_re_export_button_writes_a_given_up_record(
    super_client, crm_account, sandbox, celery_worker
):
    error = given_up_error(crm_account())

    super_client.post(f"{LIST}{error.pk}/reexport/")

    def resolved() -> bool:
        error.refresh_from_db()
        return error.status == ExportError.Status.RESOLVED

    wait_for(resolved, timeout=30)
    assert [w["external_id"] for w in sandbox.writes()] == ["person-1"]
