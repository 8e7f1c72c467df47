"""`stall_next` + `stall_ms`: the next N data requests answer late (client timeouts);
`stall_after`: that many data requests go through first."""

from __future__ import annotations

import time

import pytest
import requests


def test_stalled_request_times_out_and_the_next_one_is_prompt(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(stall_next=1, stall_ms=5000)

    with pytest.raises(requests.exceptions.ReadTimeout):
        sf.restful("limits", timeout=0.5)

    started = time.monotonic()
    sf.restful("limits", timeout=5)
    assert time.monotonic() - started < 2


def test_stall_after_lets_requests_through_then_stalls_the_next(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(stall_after=2, stall_next=1, stall_ms=5000)

    for _ in range(2):
        started = time.monotonic()
        sf.restful("limits", timeout=5)
        assert time.monotonic() - started < 2
    with pytest.raises(requests.exceptions.ReadTimeout):
        sf.restful("limits", timeout=0.5)  # the third
    started = time.monotonic()
    sf.restful("limits", timeout=5)
    assert time.monotonic() - started < 2
    assert sandbox.rules()["faults"]["stall_after"] == 0


def test_stall_after_waits_for_a_stall_to_count(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(stall_after=1)

    sf.restful("limits", timeout=5)  # no stall waiting: nothing counted
    assert sandbox.rules()["faults"]["stall_after"] == 1
