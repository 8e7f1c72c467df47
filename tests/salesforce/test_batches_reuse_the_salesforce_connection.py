"""A worker keeps one Gateway per account between batches: one HTTPS connection, one login.

A new Gateway per batch meant a TLS handshake (and a token lookup) on every batch; at
100 ms of latency that cost ~8 ms a batch (bench/). A change of the connection settings
still takes effect at the next batch.
"""

from __future__ import annotations

import pytest

from accounts.models import CRMSettings
from exports.models import ExportRun
from exports.run import runs, steps
from salesforce.reuse import reusable_gateway
from tests.pipeline_fixtures import contacts, enqueue, export_one_call

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

# A run's first call describes each object it carries (field types, checked before sending).
DESCRIBE = 1


def https_connections_opened(gateway) -> int:
    adapter = gateway._session.get_adapter(str(gateway.instance_url))
    return sum(pool.num_connections for pool in adapter.poolmanager.pools._container.values())


def test_three_batches_of_a_run_share_one_https_connection(sandbox, crm_account):
    account = crm_account(batch_size=10)
    enqueue(account, contacts(150))  # three calls of 5 batches of 10
    started = runs.start_run(account.id, ExportRun.Trigger.MANUAL)

    after = started.after_id
    for _ in range(3):
        step = export_one_call(account.id, started.run_id, after)
        assert isinstance(step, steps.Next)
        after = step.after_id

    run = ExportRun.objects.get(id=started.run_id)
    assert (run.exported, run.api_calls) == (150, DESCRIBE + 3)
    gateway = reusable_gateway(CRMSettings.objects.get(account=account))
    assert https_connections_opened(gateway) == 1


def test_counters_start_at_zero_and_new_settings_get_a_new_gateway(sandbox, crm_account):
    crm = CRMSettings.objects.get(account=crm_account())
    first = reusable_gateway(crm)
    first.upsert_collection("Contact", "ExtId__c", [{"ExtId__c": "p-1", "LastName": "P"}], True)
    assert first.api_calls == 1

    again = reusable_gateway(crm)
    assert again is first
    assert (again.api_calls, again.api_usage) == (0, None)

    crm.timeout_seconds = 12.0
    crm.save()
    assert reusable_gateway(CRMSettings.objects.get(id=crm.id)) is not first
