"""Key rotation: with a new key put first, `crm_rotate_secrets` re-encrypts every stored
secret with it, so the old key can be dropped; a secret no key opens stops it cleanly."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import CRMSettings
from salesforce import crypto
from tests.factories import AccountFactory, CRMSettingsFactory

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def stored(settings_id: int, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM accounts_crmsettings WHERE id = %s", [settings_id])
        return cursor.fetchone()[0]


def test_rotation_moves_every_secret_to_the_newest_key(settings, capsys):
    settings.CRMSYNC_ENCRYPTION_KEYS = [OLD]
    crm = CRMSettingsFactory(
        account=AccountFactory(slug="acme"), client_secret="s3cret-one", password="pw-two"
    )
    old_token = stored(crm.id, "client_secret")
    assert "s3cret-one" not in old_token  # encrypted at rest

    settings.CRMSYNC_ENCRYPTION_KEYS = [NEW, OLD]
    call_command("crm_rotate_secrets", "--check")
    assert "2 of 2 stored secrets are not on the newest key" in capsys.readouterr().out
    call_command("crm_rotate_secrets")
    assert "re-encrypted 2 secrets of 1 accounts" in capsys.readouterr().out

    new_token = stored(crm.id, "client_secret")
    assert new_token != old_token
    assert Fernet(NEW.encode()).decrypt(new_token.encode()) == b"s3cret-one"
    settings.CRMSYNC_ENCRYPTION_KEYS = [NEW]  # the old key dropped
    crm = CRMSettings.objects.get(id=crm.id)
    assert (crm.client_secret, crm.password) == ("s3cret-one", "pw-two")
    call_command("crm_rotate_secrets", "--check")
    assert "0 of 2 stored secrets" in capsys.readouterr().out


def test_a_secret_no_key_opens_stops_rotation_and_changes_nothing(settings):
    settings.CRMSYNC_ENCRYPTION_KEYS = [OLD]
    lost = CRMSettingsFactory(account=AccountFactory(slug="lost"), client_secret="written-with-old")
    settings.CRMSYNC_ENCRYPTION_KEYS = [NEW]
    kept = CRMSettingsFactory(account=AccountFactory(slug="kept"), client_secret="fine")
    before = (stored(lost.id, "client_secret"), stored(kept.id, "client_secret"))

    with pytest.raises(CommandError) as failure:
        call_command("crm_rotate_secrets")

    message = str(failure.value)
    assert "lost (client secret)" in message and "nothing was changed" in message
    assert "written-with-old" not in message
    assert (stored(lost.id, "client_secret"), stored(kept.id, "client_secret")) == before
    assert crypto.on_newest_key(before[1])
