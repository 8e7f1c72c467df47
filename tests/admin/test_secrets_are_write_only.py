"""Secrets in the settings form: empty keeps, a value replaces, "remove" clears."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from tests.admin.conftest import CLIENT_SECRET, PASSWORD, PRIVATE_KEY, change_url, settings_post

pytestmark = pytest.mark.django_db


def test_empty_inputs_keep_the_stored_secrets(super_client, crm_settings):
    response = super_client.post(change_url(crm_settings), settings_post(crm_settings))

    assert response.status_code == 302
    crm_settings.refresh_from_db()
    assert crm_settings.client_secret == CLIENT_SECRET
    assert crm_settings.private_key == PRIVATE_KEY
    assert crm_settings.password == PASSWORD
    assert LogEntry.objects.get().get_change_message() == "No fields changed."


def test_a_typed_secret_replaces_the_stored_one(super_client, crm_settings):
    data = settings_post(crm_settings, client_secret="rotated-secret")

    super_client.post(change_url(crm_settings), data)

    crm_settings.refresh_from_db()
    assert crm_settings.client_secret == "rotated-secret"
    assert crm_settings.password == PASSWORD
    assert LogEntry.objects.get().get_change_message() == "Changed Client secret."


def test_remove_clears_a_stored_secret(super_client, crm_settings):
    data = settings_post(crm_settings, password_clear=True)

    super_client.post(change_url(crm_settings), data)

    crm_settings.refresh_from_db()
    assert crm_settings.password == ""
    assert crm_settings.client_secret == CLIENT_SECRET
    assert LogEntry.objects.get().get_change_message() == "Changed Password."


def test_a_new_value_and_remove_together_are_refused(super_client, crm_settings):
    data = settings_post(crm_settings, password="other", password_clear=True)

    response = super_client.post(change_url(crm_settings), data)

    assert response.status_code == 200
    assert "Either type a new value or tick “Remove”, not both." in response.content.decode()
    crm_settings.refresh_from_db()
    assert crm_settings.password == PASSWORD
