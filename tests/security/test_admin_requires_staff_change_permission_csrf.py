"""Admin access: every page needs a staff login; changing CRM settings, testing the
connection, starting a run and the error actions need the change permission; every
POST needs the CSRF token."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission, User
from django.test import Client

from exports.models import ExportError
from tests.factories import (
    AccountFactory,
    CRMSettingsFactory,
    ExportErrorFactory,
    ExportRecordFactory,
)

pytestmark = pytest.mark.django_db

VIEW = [
    "view_account",
    "view_crmsettings",
    "view_exporterror",
    "view_exportrun",
    "view_exportrecord",
    "view_exportcursor",
]
CHANGE = ["change_crmsettings", "change_exporterror", "change_account"]


@pytest.fixture
def world():
    account = AccountFactory(slug="acme")
    crm = CRMSettingsFactory(account=account, client_secret="x")
    error = ExportErrorFactory(record=ExportRecordFactory(account=account))
    return account, crm, error


def login(*perms: str, staff: bool = True) -> Client:
    user = User.objects.create_user(f"u{User.objects.count()}", password="pw", is_staff=staff)
    user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    client = Client()
    client.force_login(user)
    return client


def pages(account, crm, error) -> list[str]:
    return [
        "/admin/",
        f"/admin/accounts/crmsettings/{crm.id}/change/",
        "/admin/exports/exporterror/",
        f"/admin/exports/exporterror/{error.id}/change/",
        "/admin/exports/exportrun/",
        f"/admin/exports/status/{account.slug}/",
    ]


@pytest.mark.parametrize("who", ["anonymous", "not staff (with every permission)"])
def test_every_admin_page_needs_a_staff_login(world, who):
    client = Client() if who == "anonymous" else login(*VIEW, *CHANGE, staff=False)
    for url in pages(*world):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_view_only_staff_can_look_but_not_change(world):
    account, crm, error = world
    client = login(*VIEW)
    assert client.get(f"/admin/accounts/crmsettings/{crm.id}/change/").status_code == 200

    denied = {
        f"/admin/accounts/crmsettings/{crm.id}/change/": {"batch_size": "5"},
        f"/admin/accounts/crmsettings/{crm.id}/test-connection/": {},
        f"/admin/exports/status/{account.slug}/run/": {},
    }
    for url, data in denied.items():
        assert client.post(url, data).status_code == 403, url
    client.post(
        "/admin/exports/exporterror/", {"action": "dismiss", "_selected_action": [error.id]}
    )
    client.post(
        "/admin/exports/exporterror/", {"action": "reexport_now", "_selected_action": [error.id]}
    )
    crm.refresh_from_db()
    assert crm.batch_size == 200
    assert ExportError.objects.get(id=error.id).status == "open"


def test_change_permission_allows_the_error_actions(world):
    _, _, error = world
    client = login(*VIEW, *CHANGE)
    client.post(
        "/admin/exports/exporterror/", {"action": "dismiss", "_selected_action": [error.id]}
    )
    assert ExportError.objects.get(id=error.id).status == "dismissed"


def test_posts_without_the_csrf_token_are_refused(world):
    _, crm, error = world
    assert "django.middleware.csrf.CsrfViewMiddleware" in django_settings.MIDDLEWARE
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    for url, data in {
        f"/admin/accounts/crmsettings/{crm.id}/change/": {"batch_size": "5"},
        "/admin/exports/exporterror/": {"action": "dismiss", "_selected_action": [error.id]},
    }.items():
        assert client.post(url, data).status_code == 403, url
    crm.refresh_from_db()
    assert crm.batch_size == 200
    assert ExportError.objects.get(id=error.id).status == "open"
