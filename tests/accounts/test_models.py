from __future__ import annotations

import pytest
from django.db import IntegrityError, connection

from accounts.models import CRMSettings
from exports.models import ExportError
from tests.factories import AccountFactory, ExportErrorFactory

pytestmark = pytest.mark.django_db


def test_account_gets_crm_settings_with_pause_on_by_default():
    account = AccountFactory()
    settings = CRMSettings.objects.get(account=account)
    assert settings.pause_on_export_errors is True
    assert settings.export_enabled is False
    assert settings.batch_size == 200
    assert settings.max_records_per_run == 20_000


def test_secrets_are_encrypted_at_rest():
    account = AccountFactory()
    settings = account.crm_settings
    settings.client_secret = "s3cret-value"
    settings.save()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT client_secret FROM accounts_crmsettings WHERE id = %s", [settings.id]
        )
        (stored,) = cursor.fetchone()
    assert "s3cret-value" not in stored
    assert CRMSettings.objects.get(id=settings.id).client_secret == "s3cret-value"


def test_at_most_one_open_error_per_record():
    error = ExportErrorFactory()
    with pytest.raises(IntegrityError):
        ExportErrorFactory(record=error.record)


def test_a_resolved_error_does_not_block_a_new_open_one():
    error = ExportErrorFactory(status=ExportError.Status.RESOLVED)
    assert ExportErrorFactory(record=error.record).status == ExportError.Status.OPEN
