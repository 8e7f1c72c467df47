"""An unusable "CA bundle" path gets one fixed text whatever is (or is not) at that path —
missing, a directory, a file that is not PEM, a private key — in "Test connection" and in
`crm_account`, so the settings page cannot probe which files exist on the server. Nothing
is sent to the org."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from salesforce.client import AuthError, Gateway
from tests.factories import CRMSettingsFactory


def candidates(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "notes.txt").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "key.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
    )
    return {
        "missing": str(tmp_path / "no-such-file.pem"),
        "directory": str(tmp_path),
        "not PEM": str(tmp_path / "notes.txt"),
        "a key": str(tmp_path / "key.pem"),
    }


@pytest.mark.django_db
def test_test_connection_says_the_same_for_every_unusable_path(sandbox, tmp_path) -> None:
    messages = {}
    for name, path in candidates(tmp_path).items():
        crm = CRMSettingsFactory(login_url=sandbox.url, ca_bundle=path)
        gateway = Gateway(crm)
        with pytest.raises(AuthError) as refused:
            gateway.check_connection()
        assert gateway.api_calls == 0 and refused.value.code == "BAD_CA_BUNDLE"
        messages[name] = refused.value.message.replace(f"account {crm.account_slug}", "account N")

    assert len(set(messages.values())) == 1, messages
    assert str(tmp_path) not in messages["missing"]


@pytest.mark.django_db
def test_crm_account_warns_the_same_for_every_unusable_path(tmp_path) -> None:
    warnings = set()
    for number, path in enumerate(candidates(tmp_path).values()):
        stderr = io.StringIO()
        call_command("crm_account", "create", f"acct-{number}", "--ca-bundle", path,
                     stdout=io.StringIO(), stderr=stderr)  # fmt: skip
        warnings.add(stderr.getvalue())

    [warning] = warnings
    assert "--ca-bundle cannot be used" in warning
