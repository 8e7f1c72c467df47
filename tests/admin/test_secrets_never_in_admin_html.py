"""No admin page renders a stored secret, for editors and view-only staff alike."""

from __future__ import annotations

import pytest

from exports.models import ExportCursor
from tests.admin.conftest import SECRETS, change_url, settings_post
from tests.factories import ExportCursorFactory, ExportErrorFactory, ExportRunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pages(crm_settings) -> list[str]:
    """Every admin page this project builds, with data in it."""
    account = crm_settings.account
    error = ExportErrorFactory(record__account=account)
    run = ExportRunFactory(account=account, exported=3, failed=1)
    ExportCursorFactory(
        account=account, state=ExportCursor.State.PAUSED, paused_record=error.record
    )
    return [
        "/admin/",
        "/admin/accounts/",
        "/admin/accounts/account/",
        f"/admin/accounts/account/{account.pk}/change/",
        "/admin/accounts/crmsettings/",
        change_url(crm_settings),
        f"/admin/accounts/crmsettings/{crm_settings.pk}/history/",
        f"/admin/accounts/crmsettings/{crm_settings.pk}/pause-field/",
        "/admin/exports/",
        "/admin/exports/exporterror/",
        f"/admin/exports/exporterror/{error.pk}/change/",
        "/admin/exports/exportrecord/",
        f"/admin/exports/exportrecord/{error.record_id}/change/",
        "/admin/exports/exportrun/",
        f"/admin/exports/exportrun/{run.pk}/change/",
        "/admin/exports/exportcursor/",
        "/admin/exports/status/",
        f"/admin/exports/status/{account.slug}/",
    ]


def assert_no_secret(html: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in html, f"a stored secret is rendered on {where}"


def test_no_page_renders_a_secret_to_an_editor(super_client, pages):
    for url in pages:
        response = super_client.get(url)
        assert response.status_code == 200, url
        assert_no_secret(response.content.decode(), url)


def test_no_page_renders_a_secret_to_view_only_staff(viewer_client, pages):
    for url in pages:
        if url.endswith("/pause-field/"):
            continue  # an editing aid: refused to view-only staff (test_view_only_staff…)
        response = viewer_client.get(url)
        assert response.status_code == 200, url
        assert_no_secret(response.content.decode(), url)


def test_settings_page_says_set_or_not_set(super_client, viewer_client, crm_settings):
    crm_settings.password = ""
    crm_settings.save()

    editor_html = super_client.get(change_url(crm_settings)).content.decode()
    viewer_html = viewer_client.get(change_url(crm_settings)).content.decode()

    assert "Currently: set." in editor_html and "Currently: not set." in editor_html
    assert ">set</div>" in viewer_html and ">not set</div>" in viewer_html


def test_a_refused_post_does_not_render_back_the_typed_secret(super_client, crm_settings):
    typed = "new-secret-typed-9Wm"
    data = settings_post(
        crm_settings, client_secret=typed, private_key=typed, pause_on_export_errors=False
    )

    response = super_client.post(change_url(crm_settings), data)

    assert response.status_code == 200
    assert typed not in response.content.decode()
    assert_no_secret(response.content.decode(), "the refused settings form")
