"""Staff with only view permissions see everything and change nothing."""

from __future__ import annotations

import pytest

from exports.models import ExportError
from tests.admin.conftest import change_url, settings_post
from tests.factories import ExportErrorFactory

pytestmark = pytest.mark.django_db


def test_settings_page_has_no_change_controls(viewer_client, crm_settings):
    html = viewer_client.get(change_url(crm_settings)).content.decode()

    assert "Pause on export errors" in html  # seen…
    assert 'name="pause_on_export_errors"' not in html  # …but not as an input
    assert 'name="_save"' not in html
    assert "Test connection" not in html


def test_settings_post_is_refused(viewer_client, crm_settings):
    data = settings_post(crm_settings, pause_on_export_errors=False, confirm_pause_off=True)

    response = viewer_client.post(change_url(crm_settings), data)

    assert response.status_code == 403
    crm_settings.refresh_from_db()
    assert crm_settings.pause_on_export_errors is True


def test_test_connection_and_pause_field_are_refused(viewer_client, crm_settings):
    base = f"/admin/accounts/crmsettings/{crm_settings.pk}"
    assert viewer_client.post(f"{base}/test-connection/").status_code == 403
    assert viewer_client.get(f"{base}/pause-field/").status_code == 403


def test_error_actions_offer_only_the_csv_download(viewer_client):
    ExportErrorFactory()

    html = viewer_client.get("/admin/exports/exporterror/").content.decode()

    assert 'value="download_csv"' in html
    assert 'value="reexport_now"' not in html
    assert 'value="dismiss"' not in html


def test_requeue_and_dismiss_posts_are_refused(viewer_client, published_tasks):
    error = ExportErrorFactory()
    for action in ("reexport_now", "dismiss"):
        viewer_client.post(
            "/admin/exports/exporterror/", {"action": action, "_selected_action": [error.pk]}
        )

    error.refresh_from_db()
    assert error.status == ExportError.Status.OPEN
    assert published_tasks.tasks == []


def test_status_page_has_no_run_buttons_and_run_post_is_refused(
    viewer_client, crm_settings, published_tasks
):
    slug = crm_settings.account.slug

    html = viewer_client.get(f"/admin/exports/status/{slug}/").content.decode()
    response = viewer_client.post(f"/admin/exports/status/{slug}/run/")

    assert "Run export now" not in html and "Resume" not in html
    assert response.status_code == 403
    assert published_tasks.tasks == []
