"""The CRM settings page marks its secret fields as sensitive POST parameters: an error
report of that request (Django's error mails, a debug page) shows them as stars."""

from __future__ import annotations

import pytest
from django.views.debug import SafeExceptionReporterFilter

from accounts.forms import SECRET_FIELDS
from tests.admin.conftest import change_url, settings_post


@pytest.mark.django_db
def test_secrets_in_a_settings_post_are_hidden_from_error_reports(super_client, crm_settings):
    data = settings_post(crm_settings, client_secret="typed-Pq8", password="typed-Jr4")

    response = super_client.post(change_url(crm_settings), data)

    request = response.wsgi_request
    assert set(request.sensitive_post_parameters) == set(SECRET_FIELDS)
    shown = SafeExceptionReporterFilter().get_post_parameters(request)
    assert shown["client_secret"] == shown["password"] == "********************"
    assert shown["batch_size"] == str(crm_settings.batch_size)
