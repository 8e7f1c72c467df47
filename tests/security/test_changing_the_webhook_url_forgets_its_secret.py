"""A webhook signing secret signs only for the receiver it was saved for: changing the
webhook URL removes the stored secret unless a new one is given in the same save — in the
admin (which says so) and in `crm_account` (a warning naming the option) alike, as a new
login URL does for the Salesforce secrets. Until a secret is set again nothing is sent
to the new URL: an alert's delivery fails saying what to do, and is never signed with an
empty key."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accounts.models import CRMSettings
from exports.alerts.delivery import deliver
from exports.models import Notification
from tests.admin.conftest import change_url, settings_post
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

OLD_SECRET = "whsec-old-Qm3-never-reused"
OLD_URL = "https://hooks.example.com/old"
NEW_URL = "https://hooks.invalid/new"  # resolves nowhere: nothing leaves the machine


@pytest.fixture
def hooked(crm_settings: CRMSettings) -> CRMSettings:
    crm_settings.alert_webhook_url = OLD_URL
    crm_settings.alert_webhook_secret = OLD_SECRET
    crm_settings.save()
    return crm_settings


def test_a_new_url_in_the_admin_takes_no_secret_along(super_client, hooked) -> None:
    saved = super_client.post(
        change_url(hooked), settings_post(hooked, alert_webhook_url=NEW_URL), follow=True
    )

    hooked.refresh_from_db()
    assert hooked.alert_webhook_url == NEW_URL
    assert hooked.alert_webhook_secret == ""
    page = saved.content.decode()
    assert "webhook signing secret" in page and "was removed" in page
    assert "the webhook URL changed" in page
    assert hooked.client_secret != ""  # the Salesforce secrets are not the webhook's
    page = super_client.get(change_url(hooked)).content.decode()
    assert "Changing the webhook URL removes the stored signing secret" in page


def test_a_secret_typed_with_the_new_url_is_kept(super_client, hooked) -> None:
    data = settings_post(hooked, alert_webhook_url=NEW_URL, alert_webhook_secret="whsec-new")
    super_client.post(change_url(hooked), data)

    hooked.refresh_from_db()
    assert (hooked.alert_webhook_url, hooked.alert_webhook_secret) == (NEW_URL, "whsec-new")


def test_saving_other_settings_keeps_the_secret(super_client, hooked) -> None:
    super_client.post(change_url(hooked), settings_post(hooked, still_paused_after_hours=3))

    hooked.refresh_from_db()
    assert hooked.alert_webhook_secret == OLD_SECRET


def test_crm_account_forgets_it_unless_given_again(monkeypatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", OLD_SECRET)
    call_command("crm_account", "create", "acme", "--alert-webhook", OLD_URL,
                 "--alert-webhook-secret-env", "HOOK_SECRET", stdout=io.StringIO())  # fmt: skip
    stderr = io.StringIO()

    call_command("crm_account", "create", "acme", "--alert-webhook", NEW_URL,
                 stdout=io.StringIO(), stderr=stderr)  # fmt: skip

    crm = CRMSettings.objects.get(account__slug="acme")
    assert (crm.alert_webhook_url, crm.alert_webhook_secret) == (NEW_URL, "")
    warning = stderr.getvalue()
    assert "webhook signing secret was removed" in warning
    assert "--alert-webhook-secret-env" in warning and OLD_SECRET not in warning


def test_an_alert_to_a_webhook_without_its_secret_fails_saying_what_to_do() -> None:
    account = AccountFactory()
    CRMSettings.objects.filter(account=account).update(alert_webhook_url=NEW_URL)
    notification = Notification.objects.create(
        account=account, event="paused", channel="webhook", target=NEW_URL, payload={}
    )

    assert deliver(str(notification.id)) == "failed"

    notification.refresh_from_db()
    assert "no signing secret" in notification.last_error
    assert "--alert-webhook-secret-env" in notification.last_error
