"""A run of many batches sends export_batch messages that do not grow with the run."""

from __future__ import annotations

import json

import pytest
from celery.signals import before_task_publish

from exports.models import ExportRun
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import contacts, enqueue

pytestmark = pytest.mark.integration


def test_chain_messages_are_one_signature_long(sandbox, celery_worker, crm_account, settings):
    settings.CRMSYNC_LINK_SECONDS = 0  # one call per link: many links
    account = crm_account(batch_size=10)
    enqueue(account, contacts(1000))
    sizes: list[int] = []
    chains: list[int] = []

    def measure(sender=None, body=None, **kwargs):
        if sender == "exports.tasks.export_batch":
            sizes.append(len(json.dumps(body)))
            chains.append(len((body[2] or {}).get("chain") or []))

    before_task_publish.connect(measure)
    try:
        run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=120)
    finally:
        before_task_publish.disconnect(measure)

    assert run.outcome == ExportRun.Outcome.COMPLETED and run.exported == 1000
    assert len(sizes) >= 20  # one message per call of 5 batches of 10
    assert max(chains) == 0  # no pre-built tail of signatures travels with a link
    assert max(sizes) < 1024
