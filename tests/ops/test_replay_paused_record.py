"""`crm_replay` reproduces a paused export: it sends the paused record once, shows the
request and Salesforce's answer with secrets redacted, and changes nothing in crmsync."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from exports.models import ExportCursor, ExportError, ExportRun
from exports.tools.runner import run_and_wait
from sandbox.auth import ORG_ID
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue, written_external_ids

pytestmark = pytest.mark.integration

SECRET = "s3cret-replay-XYZ"
STRICT = {
    "auth": {"clients": {"crmsync-ops": SECRET}},
    "objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}},
}
FIXED = {"auth": STRICT["auth"]}


@pytest.fixture
def paused(sandbox, celery_worker, crm_account):
    """An account paused at person-3 by a real run; returns (account, record ids)."""
    sandbox.set_rules(STRICT)
    account = crm_account(client_id="crmsync-ops", client_secret=SECRET)
    ids = enqueue(account, contacts(5, **{"person-3": {"Type__c": "Customer"}}))
    run = run_and_wait(account, ExportRun.Trigger.MANUAL, timeout=60)
    assert run.outcome == ExportRun.Outcome.PAUSED
    return account, ids


def replay(*args: str, **options: Any) -> str:
    out = StringIO()
    call_command("crm_replay", *args, stdout=out, **options)
    return out.getvalue()


def snapshot(account) -> tuple[Any, ...]:
    cursor = ExportCursor.objects.filter(account=account).values().get()
    errors = list(ExportError.objects.filter(account=account).order_by("id").values())
    runs = list(ExportRun.objects.filter(account=account).order_by("id").values())
    return cursor, errors, runs


def test_replay_shows_the_request_and_the_rejection_and_changes_nothing(sandbox, paused):
    account, ids = paused
    before, writes_before = snapshot(account), sandbox.writes()

    output = replay(
        "--account", account.slug, "--sandbox", sandbox.url, "--ca", str(sandbox.ca_path)
    )

    assert f"Record #{ids[2]}: Contact person-3" in output
    assert "Open error #" in output and "Customers need an email" in output
    assert "> PATCH " + sandbox.url in output
    assert "/sobjects/Contact/ExtId__c/person-3" in output
    body = next(line for line in output.splitlines() if line.startswith("> {"))
    assert json.loads(body[2:]) == {"LastName": "Person 3", "Type__c": "Customer"}
    assert "< HTTP 400 Bad Request" in output
    answer = next(line for line in output.splitlines() if line.startswith("< ["))
    assert json.loads(answer[2:])[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert "Salesforce rejected the record: FIELD_CUSTOM_VALIDATION_EXCEPTION" in output
    assert "Authorization: Bearer [redacted]" in output
    assert f"{ORG_ID[:15]}!" not in output  # no access token
    assert snapshot(account) == before
    assert sandbox.writes() == writes_before


def test_replay_to_the_configured_org_writes_the_fixed_record_but_keeps_the_pause(sandbox, paused):
    account, ids = paused
    sandbox.set_rules(FIXED)
    before = snapshot(account)

    output = replay("--account", account.slug)

    assert f"Replaying to {sandbox.url}" in output
    assert "< HTTP 201" in output
    assert "Salesforce accepted the record (created" in output
    assert SECRET not in output
    assert f"{ORG_ID[:15]}!" not in output
    assert written_external_ids(sandbox)[-1] == "person-3"
    assert snapshot(account) == before  # still paused at person-3, its error still open


def test_replay_in_a_throwaway_sandbox_with_a_rules_file(sandbox, paused, tmp_path):
    account, ids = paused
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"objects": STRICT["objects"]}))
    writes_before = sandbox.writes()

    output = replay("--account", account.slug, "--sandbox", "--rules", str(rules))

    assert "Replaying to https://127.0.0.1:" in output
    assert sandbox.url not in output
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in output
    assert sandbox.writes() == writes_before


def test_replay_refuses_what_it_cannot_replay(sandbox, paused, crm_account):
    account, ids = paused
    idle = crm_account(slug="idle")

    cases = [
        ({"account": "nobody"}, "no account with slug 'nobody'"),
        ({"account": idle.slug}, "account idle is not paused; name the record to replay"),
        ({"account": account.slug, "record": 999_999}, f"account {account.slug} has no record"),
        ({"account": account.slug, "rules": "x.json"}, "--rules needs --sandbox"),
    ]
    for options, message in cases:
        with pytest.raises(CommandError, match=message) as raised:
            replay(**options)
        assert raised.value.returncode == 2


def test_replay_refuses_old_data_over_newer_in_the_configured_org(sandbox, paused):
    account, ids = paused
    sandbox.set_rules(FIXED)
    newer = enqueue(account, contacts(1, start=1, **{"person-1": {"Email": "new@example.com"}}))
    run_and_wait(account, ExportRun.Trigger.MANUAL, timeout=60)
    assert ExportCursor.objects.get(account=account).last_exported_id == newer[0]

    with pytest.raises(CommandError, match=f"older than record #{newer[0]}") as raised:
        replay("--account", account.slug, "--record", str(ids[0]))
    assert raised.value.returncode == 2
    assert "--sandbox" in str(raised.value)
