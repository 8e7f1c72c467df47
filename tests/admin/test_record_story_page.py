"""One record's story in the admin: every version of a key in order with each result, the
key's Salesforce Id linked into the org, the search by external id or Salesforce Id, the
links from the other pages, and the error's buttons (none for view-only staff)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.test import Client

from exports.admin_records import story_url
from exports.models import ExportCursor, ExportError, SalesforceKey
from tests.admin.conftest import pause_at
from tests.admin.story_data import (
    EXTERNAL_ID,
    with_superseded_error,
    written_rejected_fixed_and_written_again,
)
from tests.factories import CRMSettingsFactory, ExportErrorFactory, ExportRecordFactory

STORY = f"/admin/exports/story/acme/Contact/ExtId__c/{EXTERNAL_ID}/"


def text_of(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def results_in_order(page: str) -> list[tuple[str, str]]:
    """(version's record id, each result's text without tags), top to bottom."""
    rows = page.split('<tr id="version-')[1:]
    return [
        (row.split('"')[0], " ".join(re.sub(r"<[^>]+>", " ", item).split()))
        for row in rows
        for item in re.findall(r'<li class="result">(.*?)</li>', row, re.S)
    ]


@pytest.mark.integration
def test_versions_and_results_in_order(super_client, crm_account, sandbox, celery_worker):
    account = crm_account(pause=False)
    first, rejected, fixed = with_superseded_error(sandbox, account)
    salesforce_id = SalesforceKey.objects.get(account=account).salesforce_id
    instance = ExportCursor.objects.get(account=account).instance_url

    page = text_of(super_client, STORY)

    found = results_in_order(page)
    assert [(rid, text.split(" at ")[0]) for rid, text in found] == [
        (str(first), "written"),
        (str(rejected), "rejected"),
        (str(rejected), "superseded by newer data"),
        (str(fixed), "written"),
    ]
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION — Customers need an email" in found[1][1]
    assert re.search(r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, run #\d+", found[0][1])
    assert f'href="{instance}/lightning/r/Contact/{salesforce_id}/view"' in page
    assert "3 versions, oldest first" in page
    assert 'id="story-error"' not in page  # superseded: nothing left open


@pytest.mark.integration
def test_the_open_error_has_its_buttons_for_staff_who_may_change(
    super_client, viewer_client, crm_account, sandbox, celery_worker
):
    account = crm_account(pause=False)
    written_rejected_fixed_and_written_again(sandbox, account)
    error = ExportError.objects.get(account=account, status="open")

    page = text_of(super_client, STORY)
    seen = text_of(viewer_client, STORY)

    assert f'action="/admin/exports/exporterror/{error.pk}/reexport/"' in page
    assert f'action="/admin/exports/exporterror/{error.pk}/dismiss/"' in page
    assert "csrfmiddlewaretoken" in page
    assert 'id="story-skip"' not in page  # not paused
    assert 'id="story-error"' in seen and "Customers need an email" in seen
    for name in ("story-actions", "story-reexport", "story-dismiss", "story-skip"):
        assert f'id="{name}"' not in seen


@pytest.mark.integration
def test_the_search_finds_a_key_by_external_id_and_by_salesforce_id(
    super_client, crm_account, sandbox, celery_worker
):
    account = crm_account(pause=False)
    written_rejected_fixed_and_written_again(sandbox, account)
    salesforce_id = SalesforceKey.objects.get(account=account).salesforce_id

    for text in (EXTERNAL_ID, salesforce_id, salesforce_id[:15]):
        response = super_client.get("/admin/exports/story/", {"account": "acme", "q": text})
        assert (response.status_code, response["Location"]) == (302, STORY), text
    nothing = text_of(super_client, "/admin/exports/story/?account=acme&q=person-8")
    assert 'id="story-none"' in nothing


@pytest.mark.django_db
def test_several_keys_are_listed_and_odd_external_ids_round_trip(super_client):
    account = CRMSettingsFactory(account__slug="acme").account
    odd = "a/b ?#%2F..&é"
    for sobject in ("Contact", "Lead"):
        ExportRecordFactory(account=account, sobject=sobject, external_id=odd)

    listed = text_of(
        super_client, f"/admin/exports/story/?{urlencode({'account': 'acme', 'q': odd})}"
    )
    story = text_of(super_client, story_url("acme", "Lead", "ExtId__c", odd))

    assert "2 keys of" in listed
    assert story_url("acme", "Contact", "ExtId__c", odd) in listed
    assert '<dd id="story-external-id">a/b ?#%2F..&amp;é</dd>' in story
    assert "waiting to be sent" in story
    ExportRecordFactory(account=account, sobject="Lead", external_id="..")
    dots = story_url("acme", "Lead", "ExtId__c", "..")
    assert dots.endswith("/ExtId__c/?external_id=..")  # a browser would resolve "../"
    assert '<dd id="story-external-id">..</dd>' in text_of(super_client, dots)


@pytest.mark.django_db
def test_skip_on_the_story_only_while_paused_at_its_error(super_client, viewer_client):
    account = CRMSettingsFactory(account__slug="acme").account
    done = ExportRecordFactory(account=account, external_id="person-1")
    bad = ExportRecordFactory(account=account, external_id=EXTERNAL_ID)
    pause_at(bad, ExportErrorFactory(record=bad), done)

    page = text_of(super_client, STORY)

    assert f'action="/admin/exports/status/acme/skip/{bad.id}/"' in page
    assert 'id="story-paused-here"' in page and "paused here" in page
    assert 'id="story-skip"' not in text_of(viewer_client, STORY)


@pytest.mark.django_db
def test_the_other_pages_link_to_the_story(super_client):
    account = CRMSettingsFactory(account__slug="acme").account
    done = ExportRecordFactory(account=account, external_id="person-1")
    bad = ExportRecordFactory(account=account, external_id=EXTERNAL_ID)
    error = ExportErrorFactory(record=bad)
    pause_at(bad, error, done)
    SalesforceKey.objects.create(
        account=account,
        sobject="Contact",
        external_id_field="ExtId__c",
        key=EXTERNAL_ID,
        external_id=EXTERNAL_ID,
        salesforce_id="0035g0000000001AAA",
        last_record_id=bad.id,
        last_written_at=bad.created_at,
        operation="upsert",
    )
    link = f'href="{STORY}"'

    assert link in text_of(super_client, f"/admin/exports/exporterror/{error.pk}/change/")
    assert link in text_of(super_client, "/admin/exports/exportrecord/")
    assert link in text_of(super_client, f"/admin/exports/exportrecord/{bad.id}/change/")
    assert link in text_of(super_client, "/admin/exports/salesforcekey/")
    status = text_of(super_client, "/admin/exports/status/acme/")
    assert f'href="/admin/exports/story/record/{bad.id}/"' in status
    assert 'id="story-search-box"' in status
    assert super_client.get(f"/admin/exports/story/record/{bad.id}/")["Location"] == STORY


@pytest.mark.django_db
def test_staff_without_the_view_permission_on_records_are_refused(client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_exportcursor"))
    client.force_login(user)

    assert client.get(STORY).status_code == 403
    assert client.get("/admin/exports/story/").status_code == 403
