"""Exports › Export status is listed in the admin index, on the Exports app page and in the
side bar, linking to the status page, for staff who may see it (a permission on export
cursors), and for nobody else."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from tests.admin.conftest import USER_PASSWORD

pytestmark = pytest.mark.django_db

STATUS_LINK = re.compile(r'<a href="/admin/exports/status/"[^>]*>Export status</a>')


def exports_module(html: str) -> str:
    """The Exports app's table of the app list."""
    return html.split('class="app-exports module', 1)[1].split("</table>", 1)[0]


def client_of(*codenames: str) -> Client:
    user = User.objects.create_user("staff", "staff@example.com", USER_PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_the_index_lists_export_status_under_exports(super_client):
    html = super_client.get("/admin/").content.decode()

    exports = exports_module(html)
    assert STATUS_LINK.search(exports), exports
    names = re.findall(r'<th scope="row" id="exports-\w+">\s*<a [^>]*>([^<]+)</a>', exports)
    assert "Export status" in names and names == sorted(names)  # in the models' order


def test_the_exports_page_and_the_status_page_side_bar_list_it(super_client):
    app_page = super_client.get("/admin/exports/").content.decode()
    status_page = super_client.get("/admin/exports/status/").content.decode()

    assert STATUS_LINK.search(exports_module(app_page))
    side_bar = status_page.split('id="nav-sidebar"', 1)[1]
    assert 'aria-current="page">Export status</a>' in exports_module(side_bar)


def test_view_only_staff_see_it_too(viewer_client):
    assert STATUS_LINK.search(exports_module(viewer_client.get("/admin/").content.decode()))


def test_staff_who_may_not_see_the_status_do_not_get_the_entry():
    client = client_of("view_account", "view_exporterror")

    html = client.get("/admin/").content.decode()

    assert "Export errors" in exports_module(html)
    assert "/admin/exports/status/" not in html
    assert client.get("/admin/exports/status/").status_code == 403


def test_a_permission_on_export_cursors_is_enough():
    client = client_of("view_exportcursor")

    assert STATUS_LINK.search(exports_module(client.get("/admin/").content.decode()))
