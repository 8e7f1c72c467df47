"""`latency_ms`: every request waits that long before it is answered."""

from __future__ import annotations

import time

from sandbox.server import SandboxOrg
from tests.sandbox_fixtures import SandboxHelper


def test_latency_fault_delays_every_data_request(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(latency_ms=300)

    started = time.monotonic()
    sf.query("SELECT Id FROM Contact")
    sf.query("SELECT Id FROM Contact")

    assert time.monotonic() - started >= 0.6


def test_latency_given_at_start_applies_until_rules_set_another(tmp_path):
    with SandboxOrg(tmp_path, latency_ms=250) as org:
        helper = SandboxHelper(org)
        sf = helper.salesforce()
        started = time.monotonic()
        sf.query("SELECT Id FROM Contact")
        assert time.monotonic() - started >= 0.25

        helper.set_rules({"faults": {"latency_ms": 0}})
        started = time.monotonic()
        sf.query("SELECT Id FROM Contact")
        assert time.monotonic() - started < 0.25
