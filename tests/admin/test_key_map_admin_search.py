"""The key map's admin: read-only, searchable by external id and Salesforce Id, linked into
the org."""

from __future__ import annotations

import pytest
from django.utils import timezone

from exports.keymap import KeyWrite, note_writes
from exports.models import ExportCursor, SalesforceKey
from tests.factories import AccountFactory

SF_ID = "0035g0000000001AAA"


def keyed(account, ext="Ext-1", sf_id=SF_ID):
    write = KeyWrite(7, "Contact", "ExtId__c", ext.casefold(), ext, sf_id, True, False)
    note_writes(account.pk, [write], timezone.now())


@pytest.mark.django_db
def test_the_admin_finds_a_key_by_external_id_or_salesforce_id_and_links_into_the_org(super_client):
    account = AccountFactory(slug="acme")
    ExportCursor.objects.filter(account=account).update(
        instance_url="https://acme.my.salesforce.com"
    )
    ExportCursor.objects.get_or_create(
        account=account, defaults={"instance_url": "https://acme.my.salesforce.com"}
    )
    keyed(account)
    keyed(account, ext="other", sf_id="0035g0000000002AAA")
    url = "/admin/exports/salesforcekey/"

    for query in ("Ext-1", SF_ID):
        page = super_client.get(url, {"q": query}).content.decode()
        assert "Ext-1" in page and "0035g0000000002AAA" not in page, query
    assert f"https://acme.my.salesforce.com/lightning/r/Contact/{SF_ID}/view" in page
    key = SalesforceKey.objects.get(salesforce_id=SF_ID)
    assert super_client.get(f"{url}{key.pk}/change/").status_code == 200
    assert super_client.get(f"{url}add/").status_code == 403
