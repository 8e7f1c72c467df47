"""Records go in id order across object types: a rejected person holds back its touchpoint."""

from __future__ import annotations

import pytest

from exports.models import ExportRun
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, enqueue

pytestmark = pytest.mark.integration

TOUCHPOINT = "bizible2__Bizible_Touchpoint__c"


def person(ext, **fields):
    return {
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": ext,
        "fields": {"LastName": ext, "Type__c": "Lead", **fields},
    }


def touchpoint(ext, person_ext):
    return {
        "sobject": TOUCHPOINT,
        "external_id_field": "ExtId__c",
        "external_id": ext,
        "fields": {"bizible2__Contact__r": {"ExtId__c": person_ext}, "Channel__c": "Web"},
    }


def test_rejected_person_stops_its_touchpoint_with_pause_on(sandbox, celery_worker, crm_account):
    sandbox.set_rules(
        {
            "objects": {
                "Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]},
                TOUCHPOINT: {"lookups": {"bizible2__Contact__c": "Contact"}},
            }
        }
    )
    account = crm_account(pause=True)
    enqueue(
        account,
        [
            person("p1"),
            person("p2", Type__c="Customer"),
            touchpoint("t1", "p1"),
            touchpoint("t2", "p2"),
        ],
    )

    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)

    assert run.outcome == ExportRun.Outcome.PAUSED
    assert [(w["sobject"], w["external_id"]) for w in sandbox.writes()] == [("Contact", "p1")]

    sandbox.set_rules({"objects": {TOUCHPOINT: {"lookups": {"bizible2__Contact__c": "Contact"}}}})
    resumed = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60)

    assert resumed.outcome == ExportRun.Outcome.COMPLETED
    assert [(w["sobject"], w["external_id"]) for w in sandbox.writes()] == [
        ("Contact", "p1"),
        ("Contact", "p2"),
        (TOUCHPOINT, "t1"),
        (TOUCHPOINT, "t2"),
    ]
