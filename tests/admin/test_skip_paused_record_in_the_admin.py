""" "Skip this record" in the admin: offered on the status page and on the paused record's
error page, a confirmation (GET) that says what happens and changes nothing, a POST (CSRF,
the change permission on export cursors) that skips it and writes the error's history."""

from __future__ import annotations

import html

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from exports.models import ExportCursor, ExportError, ExportRecord, RecordOutcome
from exports.views_skip import WHAT_HAPPENS
from tests.admin.conftest import pause_at
from tests.factories import CRMSettingsFactory, ExportErrorFactory, ExportRecordFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def paused() -> tuple[ExportRecord, ExportError, ExportRecord]:
    """Account acme paused at person-2 (its error open), person-1 exported, person-3 after."""
    account = CRMSettingsFactory(account__slug="acme", export_enabled=True).account
    done, bad, after = (
        ExportRecordFactory(account=account, external_id=f"person-{i}") for i in (1, 2, 3)
    )
    error = ExportErrorFactory(record=bad)
    pause_at(bad, error, done)
    return bad, error, after


def skip_url(record: ExportRecord) -> str:
    return f"/admin/exports/status/{record.account.slug}/skip/{record.id}/"


def cursor_of(record: ExportRecord) -> tuple[str, int | None, int]:
    cursor = ExportCursor.objects.get(account=record.account)
    return cursor.state, cursor.paused_record_id, cursor.last_exported_id


def test_the_confirmation_says_what_happens_and_changes_nothing(super_client, paused):
    bad, error, _ = paused
    before = cursor_of(bad)

    page = super_client.get(skip_url(bad))

    text = page.content.decode()
    assert page.status_code == 200
    assert html.escape(WHAT_HAPPENS) in text
    assert "The record is handled as pause off would have handled it" in WHAT_HAPPENS
    assert f"#{bad.id}" in text and "ExtId__c = person-2" in text
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in text and "Customers need an email" in text
    assert 'id="confirm-skip"' in text and 'method="post"' in text
    assert cursor_of(bad) == before
    assert ExportError.objects.get(pk=error.pk).skipped_at is None
    assert not RecordOutcome.objects.exists() and not LogEntry.objects.exists()


def test_skipping_goes_on_after_the_record_and_writes_the_history(super_client, paused):
    bad, error, _ = paused

    response = super_client.post(skip_url(bad), follow=True)

    assert response.redirect_chain == [("/admin/exports/status/acme/", 302)]
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        f"Skipped record #{bad.id} (Contact person-2): the next run goes on after it; its "
        "error stays open for the daily re-export. Pause stays on."
    ]
    assert cursor_of(bad) == ("idle", None, bad.id)
    error.refresh_from_db()
    assert (error.status, error.skipped_by) == ("open", "root")
    entry = LogEntry.objects.get()
    assert (entry.content_type, entry.object_id) == (
        ContentType.objects.get_for_model(ExportError),
        str(error.pk),
    )
    assert entry.get_change_message() == "Skipped while paused"
    assert RecordOutcome.objects.get(record_id=bad.id).outcome == "skipped"


def test_view_only_staff_are_refused_and_nothing_changes(viewer_client, paused):
    bad, _, _ = paused
    before = cursor_of(bad)

    assert viewer_client.get(skip_url(bad)).status_code == 403
    assert viewer_client.post(skip_url(bad)).status_code == 403
    assert cursor_of(bad) == before


def test_a_post_without_the_csrf_token_is_refused(superuser, paused):
    bad, _, _ = paused
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    before = cursor_of(bad)

    assert client.post(skip_url(bad)).status_code == 403
    assert cursor_of(bad) == before


def test_not_paused_there_shows_why_and_changes_nothing(super_client, paused):
    _, _, after = paused
    before = cursor_of(after)

    confirmation = super_client.get(skip_url(after)).content.decode()
    response = super_client.post(skip_url(after), follow=True)

    assert 'id="not-paused-here"' in confirmation and 'id="confirm-skip"' not in confirmation
    messages = [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert messages == [
        (
            "error",
            f"Record #{after.id} was not skipped: the account is paused at record "
            f"#{before[1]}, not #{after.id}: nothing was changed.",
        )
    ]
    assert cursor_of(after) == before
    assert not ExportError.objects.exclude(skipped_by="").exists()
    assert not LogEntry.objects.exists() and not RecordOutcome.objects.exists()


def test_skip_is_offered_where_the_paused_record_is_shown(super_client, viewer_client, paused):
    bad, error, after = paused
    other = ExportErrorFactory(record=after)
    link = f'href="{skip_url(bad)}"'

    status = super_client.get("/admin/exports/status/acme/").content.decode()
    error_page = super_client.get(f"/admin/exports/exporterror/{error.pk}/change/")
    other_page = super_client.get(f"/admin/exports/exporterror/{other.pk}/change/")

    assert link in status and 'id="skip-paused-record"' in status
    assert link in error_page.content.decode()
    assert "/skip/" not in other_page.content.decode()  # not the record it is paused at
    for url in ("/admin/exports/status/acme/", f"/admin/exports/exporterror/{error.pk}/change/"):
        assert "/skip/" not in viewer_client.get(url).content.decode()
