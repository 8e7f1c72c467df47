"""Exports › Export errors: the list, its filters and search, and the read-only detail page."""

from __future__ import annotations

import re

import pytest

from exports.models import ExportError
from tests.factories import ExportErrorFactory, ExportRecordFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/exports/exporterror/"


def listed(html: str) -> set[int]:
    """Ids of the errors in the changelist (its row checkboxes)."""
    return {int(i) for i in re.findall(r'name="_selected_action" value="(\d+)"', html)}


def test_list_shows_one_row_per_error_with_its_columns(super_client):
    error = ExportErrorFactory(
        record__external_id="person-437", message="Customers need an email", attempts=3
    )

    html = super_client.get(LIST).content.decode()

    for header in (
        "Account",
        "Record",
        "Error code",
        "Message",
        "Attempts",
        "Status",
        "Last attempt",
    ):
        assert f">{header}</a>" in html or f">{header}</span>" in html, header
    assert (
        f'href="/admin/exports/exportrecord/{error.record_id}/change/">#{error.record_id}</a>'
        in html
    )
    assert "person-437" in html and "FIELD_CUSTOM_VALIDATION_EXCEPTION" in html
    assert '<td class="field-attempts">3</td>' in html


def test_filters_by_status_code_object_and_account(super_client):
    missing = ExportErrorFactory(error_code="REQUIRED_FIELD_MISSING")
    dismissed = ExportErrorFactory(status=ExportError.Status.DISMISSED)

    html = super_client.get(LIST, {"status__exact": "dismissed"}).content.decode()

    for title in ("By status", "By error code", "By object", "By account"):
        assert title in html, title
    assert listed(html) == {dismissed.pk}
    html = super_client.get(LIST, {"error_code": "REQUIRED_FIELD_MISSING"}).content.decode()
    assert listed(html) == {missing.pk}


def test_search_finds_by_external_id_and_by_message(super_client):
    by_id = ExportErrorFactory(record__external_id="needle-42")
    by_message = ExportErrorFactory(message="Owner is inactive: needle")
    other = ExportErrorFactory(message="Something else")

    html = super_client.get(LIST, {"q": "needle"}).content.decode()

    assert listed(html) == {by_id.pk, by_message.pk}
    assert other.pk not in listed(html)


def test_detail_shows_the_record_payload_next_to_the_error(super_client):
    record = ExportRecordFactory(
        external_id="person-7", fields={"LastName": "Seven", "Type__c": "Customer"}
    )
    error = ExportErrorFactory(record=record, fields=["Email", "Type__c"])

    html = super_client.get(f"{LIST}{error.pk}/change/").content.decode()

    assert 'class="error-and-record"' in html
    assert ">Error</h2>" in html and ">Record</h2>" in html
    assert "Customers need an email" in html
    assert '<tr class="named-field"><th scope="row"><code>Type__c</code></th>' in html
    assert "<code>&quot;Seven&quot;</code>" in html
    assert (
        '<tr class="named-field"><th scope="row"><code>Email</code></th><td><code>(not in the record)'
        in html
    )
    assert 'name="_save"' not in html  # errors are not edited by hand
    assert "/delete/" not in html


def test_errors_cannot_be_added_or_deleted(super_client):
    error = ExportErrorFactory()

    assert super_client.get(f"{LIST}add/").status_code == 403
    assert super_client.post(f"{LIST}{error.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ExportError.objects.filter(pk=error.pk).exists()
