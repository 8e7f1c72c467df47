"""With a version field, the org itself refuses a write older than the one it holds (a
validation rule on the field; the sandbox's `not_lower`): crmsync writes each record's
outbox id into the field and counts that refusal as done — never an export error or a
pause point — and with pause on sends again the records the refusal rolled back."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from exports.models import ExportCursor, ExportError, ExportRun
from exports.run import link, runs, steps
from salesforce.client import Gateway
from tests.pipeline_fixtures import contacts, enqueue

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

VERSION = "Crmsync_Version__c"
NEWER = 10**9  # a version written by a newer record (higher than any outbox id here)
RULES = {
    "objects": {
        "Contact": {
            "validation": [
                {"name": "Version_Only_Grows", "not_lower": VERSION, "message": "Older write"}
            ]
        }
    }
}


def whole_run(account: Any) -> ExportRun:
    started = runs.start_run(account.id, ExportRun.Trigger.MANUAL)
    assert isinstance(started, runs.Running)
    step: steps.LinkStep = steps.Next(started.after_id)
    while isinstance(step, steps.Next):
        step = link.export_link(
            account.id, started.run_id, step.after_id, link_id=str(uuid.uuid4())
        )
    return ExportRun.objects.get(id=started.run_id)


def org_versions(sandbox: Any) -> dict[str, Any]:
    return {w["external_id"]: w["fields"].get(VERSION) for w in sandbox.writes() if w.get("fields")}


@pytest.mark.parametrize("pause", [True, False], ids=["pause-on", "pause-off"])
def test_an_older_write_refused_by_the_org_is_done(sandbox, crm_account, pause):
    sandbox.set_rules(RULES)
    account = crm_account(slug=f"versioned-{pause}", pause=pause, version_field=VERSION)
    newer = {"ExtId__c": "person-2", "LastName": "Newer", VERSION: NEWER}
    with Gateway(runs.load_settings(account.id)) as gateway:  # a newer write is there
        assert gateway.upsert_collection("Contact", "ExtId__c", [newer], True)[0].ok
    ids = enqueue(account, contacts(5))

    run = whole_run(account)

    cursor = ExportCursor.objects.get(account=account)
    assert (run.outcome, cursor.state, cursor.last_exported_id) == ("completed", "idle", ids[-1])
    assert not ExportError.objects.filter(account=account).exists()
    versions = org_versions(sandbox)
    assert versions["person-2"] == NEWER  # the org kept the newer write
    assert [versions[f"person-{i}"] for i in (1, 3, 4, 5)] == [ids[0], *ids[2:]]


def test_without_the_version_field_the_same_refusal_is_an_export_error(sandbox, crm_account):
    sandbox.set_rules(RULES)
    account = crm_account(slug="unversioned", pause=False)
    newer = {"ExtId__c": "person-2", "LastName": "Newer", VERSION: NEWER}
    with Gateway(runs.load_settings(account.id)) as gateway:
        gateway.upsert_collection("Contact", "ExtId__c", [newer], True)
    enqueue(account, contacts(3, **{"person-2": {VERSION: 1}}))

    whole_run(account)

    error = ExportError.objects.get(account=account)
    assert (error.external_id, error.error_code) == (
        "person-2",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    )
