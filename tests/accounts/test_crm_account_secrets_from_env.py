"""`crm_account create` takes secrets only from environment variables and files, stores
them, and never prints them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import CommandError, call_command

from accounts.models import Account, CRMSettings

pytestmark = pytest.mark.django_db


def crm_account(*args: str) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("crm_account", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_secrets_come_from_the_environment_and_a_file_and_are_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ACME_SECRET", "s3cret-client-value")
    monkeypatch.setenv("ACME_PASSWORD", "pa55word-value")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_file = tmp_path / "server.key"
    key_file.write_text(pem)

    stdout, stderr = crm_account(
        "create", "acme",
        "--auth-flow", "password",
        "--client-id", "crmsync",
        "--username", "ops@acme.example",
        "--client-secret-env", "ACME_SECRET",
        "--password-env", "ACME_PASSWORD",
        "--private-key-file", str(key_file),
    )  # fmt: skip

    crm = CRMSettings.objects.get(account__slug="acme")
    assert crm.client_secret == "s3cret-client-value"
    assert crm.password == "pa55word-value"
    assert crm.private_key == pem
    for secret in ("s3cret-client-value", "pa55word-value", "PRIVATE KEY"):
        assert secret not in stdout + stderr
    assert "secrets: client secret set, private key set, password set" in stdout


def test_an_update_without_secret_options_keeps_the_stored_secrets(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ACME_SECRET", "s3cret-client-value")
    crm_account("create", "acme", "--client-id", "crmsync", "--client-secret-env", "ACME_SECRET")

    stdout, _ = crm_account("create", "acme", "--export")

    assert CRMSettings.objects.get(account__slug="acme").client_secret == "s3cret-client-value"
    assert "secrets: client secret set" in stdout


def test_a_missing_environment_variable_is_an_error_and_saves_nothing(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)

    with pytest.raises(CommandError) as excinfo:
        crm_account("create", "acme", "--client-secret-env", "NOT_SET_ANYWHERE")

    assert excinfo.value.returncode == 2
    assert "environment variable NOT_SET_ANYWHERE is not set" in str(excinfo.value)
    assert not Account.objects.filter(slug="acme").exists()


def test_a_file_that_is_not_a_private_key_is_an_error(tmp_path: Path):
    not_a_key = tmp_path / "notes.txt"
    not_a_key.write_text("hello")

    with pytest.raises(CommandError, match="is not an unencrypted PEM private key") as excinfo:
        crm_account("create", "acme", "--private-key-file", str(not_a_key))

    assert excinfo.value.returncode == 2
    assert not Account.objects.filter(slug="acme").exists()


def test_a_flow_missing_credentials_gets_a_warning_not_a_failure():
    stdout, stderr = crm_account("create", "acme", "--auth-flow", "jwt_bearer")

    assert "created account acme" in stdout
    assert "the jwt_bearer flow also needs --client-id, --username, --private-key-file" in stderr
    assert "secrets: none set" in stdout
