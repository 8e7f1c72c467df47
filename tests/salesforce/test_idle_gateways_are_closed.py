"""A worker meets thousands of accounts: the gateway (one HTTPS connection each) of an account
it has not used for REUSE_IDLE_SECONDS, or beyond the REUSE_MAX_GATEWAYS it used last, is
closed and dropped, so its open sockets and memory stay bounded, whatever the number of
accounts it meets."""

from __future__ import annotations

import threading

import pytest

from accounts.models import CRMSettings
from salesforce import reuse as gateway_module
from salesforce.reuse import REUSE_IDLE_SECONDS, REUSE_MAX_GATEWAYS, reusable_gateway

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


class Clock:
    """Stands in for the `time` module inside salesforce.client: monotonic() is set by hand."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def monotonic(self) -> float:
        return self.now


def test_gateways_unused_for_the_idle_time_are_closed_and_dropped(
    sandbox, crm_account, monkeypatch
):
    clock = Clock()
    monkeypatch.setattr(gateway_module, "time", clock)
    monkeypatch.setattr(gateway_module, "_reused", threading.local())  # this test's alone
    old = [
        reusable_gateway(CRMSettings.objects.get(account=crm_account(slug=f"a{i}")))
        for i in range(3)
    ]
    for gateway in old:
        gateway.upsert_collection(
            "Contact", "ExtId__c", [{"ExtId__c": "x", "LastName": "X"}], False
        )
    assert all(g._session.adapters["https://"].poolmanager.pools.keys() for g in old)

    clock.now += REUSE_IDLE_SECONDS + 1
    recent = crm_account(slug="recent")
    kept = reusable_gateway(CRMSettings.objects.get(account=recent))

    held = gateway_module._reused.gateways
    assert list(held) == [recent.id]
    assert held[recent.id][2] is kept
    # Closed: their connection pools are gone.
    assert not any(g._session.adapters["https://"].poolmanager.pools.keys() for g in old)


def test_a_gateway_used_within_the_idle_time_is_kept(sandbox, crm_account, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(gateway_module, "time", clock)
    monkeypatch.setattr(gateway_module, "_reused", threading.local())  # this test's alone
    first = crm_account(slug="first")
    gateway = reusable_gateway(CRMSettings.objects.get(account=first))

    clock.now += REUSE_IDLE_SECONDS + 1
    reusable_gateway(CRMSettings.objects.get(account=crm_account(slug="second")))  # sweeps
    clock.now += REUSE_IDLE_SECONDS / 2
    assert reusable_gateway(CRMSettings.objects.get(account=first)) is not gateway  # was idle

    again = reusable_gateway(CRMSettings.objects.get(account=first))
    assert again is reusable_gateway(CRMSettings.objects.get(account=first))


def test_at_most_the_gateways_used_last_are_kept(sandbox, crm_account, monkeypatch):
    monkeypatch.setattr(gateway_module, "time", Clock())  # no time passes: none is idle
    monkeypatch.setattr(gateway_module, "_reused", threading.local())  # this test's alone
    accounts = [crm_account(slug=f"m{i}") for i in range(REUSE_MAX_GATEWAYS + 5)]
    met = [reusable_gateway(CRMSettings.objects.get(account=a)) for a in accounts]
    reusable_gateway(CRMSettings.objects.get(account=accounts[5]))  # used again
    newest = crm_account(slug="newest")
    reusable_gateway(CRMSettings.objects.get(account=newest))  # drops the least recent: 6

    held = gateway_module._reused.gateways
    assert len(held) == REUSE_MAX_GATEWAYS
    assert list(held)[-2:] == [accounts[5].id, newest.id]
    assert accounts[6].id not in held and accounts[4].id not in held
    assert {id(entry[2]) for entry in held.values()} >= {id(g) for g in met[7:]}
